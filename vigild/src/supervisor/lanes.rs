//! Which services a request touches, in which order, and in which lanes
//! (spec supervision.md §8).
//!
//! - A start pulls in what the named services `requires`, transitively; a
//!   stop pulls in what requires them.
//! - Services are sorted topologically: a service starts after those in its
//!   `after` list and after those that name it in `before`, when both are in
//!   the set. Ties go by name, so the order is deterministic.
//! - Services connected by `requires` share a lane; tasks in a lane run one
//!   after another, and lanes run in parallel.
//! - **Decision D8**: a start also waits for the starts of its `after`
//!   predecessors in other lanes. Stops mirror it: a stop waits for the stops
//!   of the services that start after it, so shutdown is in reverse
//!   dependency order across lanes too.

use std::collections::{BTreeMap, BTreeSet, VecDeque};

use vigil_proto::plan::Plan;

use super::config::Relations;

/// The ordering keys of every service a request may touch.
#[derive(Clone, Debug, Default)]
pub(crate) struct Graph {
    nodes: BTreeMap<String, Relations>,
}

/// A name that is not a service of the graph.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct UnknownService(pub(crate) String);

/// Services whose `after`/`before` keys form a loop.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct OrderLoop(pub(crate) Vec<String>);

impl Graph {
    /// The graph of every service in `plan`.
    pub(crate) fn of_plan(plan: &Plan) -> Self {
        Self {
            nodes: plan
                .services()
                .iter()
                .map(|(name, service)| (name.clone(), Relations::of(service)))
                .collect(),
        }
    }

    /// A graph of the given services.
    pub(crate) fn of<'a>(services: impl IntoIterator<Item = (&'a str, &'a Relations)>) -> Self {
        Self {
            nodes: services
                .into_iter()
                .map(|(name, relations)| (name.to_owned(), relations.clone()))
                .collect(),
        }
    }

    /// `names` and everything they require, transitively.
    pub(crate) fn start_closure(
        &self,
        names: &[String],
    ) -> Result<BTreeSet<String>, UnknownService> {
        self.closure(names, |name| {
            self.nodes
                .get(name)
                .map(|r| r.requires.clone())
                .unwrap_or_default()
        })
    }

    /// `names` and everything that requires one of them, transitively.
    pub(crate) fn stop_closure(
        &self,
        names: &[String],
    ) -> Result<BTreeSet<String>, UnknownService> {
        self.closure(names, |name| {
            self.nodes
                .iter()
                .filter(|(_, r)| r.requires.iter().any(|n| n == name))
                .map(|(n, _)| n.clone())
                .collect()
        })
    }

    fn closure(
        &self,
        names: &[String],
        next: impl Fn(&str) -> Vec<String>,
    ) -> Result<BTreeSet<String>, UnknownService> {
        let mut set = BTreeSet::new();
        let mut queue: VecDeque<String> = names.iter().cloned().collect();
        while let Some(name) = queue.pop_front() {
            if !self.nodes.contains_key(&name) {
                return Err(UnknownService(name));
            }
            if set.insert(name.clone()) {
                queue.extend(next(&name));
            }
        }
        Ok(set)
    }

    /// The start order and lanes of `set` (names the graph does not know are
    /// left out).
    pub(crate) fn order(&self, set: &BTreeSet<String>) -> Result<Order, OrderLoop> {
        let members: BTreeSet<&str> = set
            .iter()
            .map(String::as_str)
            .filter(|n| self.nodes.contains_key(*n))
            .collect();
        // successors[a] holds b when a starts before b.
        let mut successors: BTreeMap<&str, BTreeSet<&str>> =
            members.iter().map(|n| (*n, BTreeSet::new())).collect();
        for name in &members {
            let relations = &self.nodes[*name];
            for before_me in &relations.after {
                if let Some(set) = successors.get_mut(before_me.as_str())
                    && before_me != name
                {
                    set.insert(name);
                }
            }
            for after_me in &relations.before {
                if members.contains(after_me.as_str()) && after_me != name {
                    successors
                        .entry(name)
                        .or_default()
                        .insert(after_me.as_str());
                }
            }
        }
        let mut indegree: BTreeMap<&str, usize> = members.iter().map(|n| (*n, 0)).collect();
        for targets in successors.values() {
            for target in targets {
                *indegree.entry(target).or_default() += 1;
            }
        }
        let mut ready: BTreeSet<&str> = indegree
            .iter()
            .filter(|(_, d)| **d == 0)
            .map(|(n, _)| *n)
            .collect();
        let mut sequence = Vec::with_capacity(members.len());
        while let Some(name) = ready.pop_first() {
            sequence.push(name.to_owned());
            for target in &successors[name] {
                let degree = indegree.entry(target).or_default();
                *degree -= 1;
                if *degree == 0 {
                    ready.insert(target);
                }
            }
        }
        if sequence.len() < members.len() {
            return Err(OrderLoop(loop_members(&members, &sequence, &successors)));
        }

        // Lanes: connected components over `requires` inside the set.
        let index: BTreeMap<&str, usize> = sequence
            .iter()
            .enumerate()
            .map(|(i, n)| (n.as_str(), i))
            .collect();
        let mut parent: Vec<usize> = (0..sequence.len()).collect();
        for (i, name) in sequence.iter().enumerate() {
            for required in &self.nodes[name.as_str()].requires {
                if let Some(&j) = index.get(required.as_str()) {
                    union(&mut parent, i, j);
                }
            }
        }
        let mut lanes: Vec<Vec<String>> = Vec::new();
        let mut lane_of_root: BTreeMap<usize, usize> = BTreeMap::new();
        let mut lane_of = BTreeMap::new();
        for (i, name) in sequence.iter().enumerate() {
            let root = find(&mut parent, i);
            let lane = *lane_of_root.entry(root).or_insert_with(|| {
                lanes.push(Vec::new());
                lanes.len() - 1
            });
            lanes[lane].push(name.clone());
            lane_of.insert(name.clone(), lane);
        }
        let predecessors = successors
            .iter()
            .flat_map(|(from, tos)| tos.iter().map(move |to| (*to, *from)))
            .fold(
                BTreeMap::<String, BTreeSet<String>>::new(),
                |mut map, (to, from)| {
                    map.entry(to.to_owned())
                        .or_default()
                        .insert(from.to_owned());
                    map
                },
            );
        Ok(Order {
            sequence,
            lanes,
            lane_of,
            predecessors,
        })
    }
}

/// The members left over by the topological sort, minus those only
/// downstream of a loop: what remains is on a loop or between two.
fn loop_members(
    members: &BTreeSet<&str>,
    sorted: &[String],
    successors: &BTreeMap<&str, BTreeSet<&str>>,
) -> Vec<String> {
    let mut left: BTreeSet<&str> = members
        .iter()
        .copied()
        .filter(|n| !sorted.iter().any(|s| s == n))
        .collect();
    loop {
        let sinks: Vec<&str> = left
            .iter()
            .copied()
            .filter(|n| !successors[n].iter().any(|s| left.contains(s)))
            .collect();
        if sinks.is_empty() {
            break;
        }
        for sink in sinks {
            left.remove(sink);
        }
    }
    left.into_iter().map(str::to_owned).collect()
}

fn find(parent: &mut [usize], mut i: usize) -> usize {
    while parent[i] != i {
        parent[i] = parent[parent[i]];
        i = parent[i];
    }
    i
}

fn union(parent: &mut [usize], a: usize, b: usize) {
    let (a, b) = (find(parent, a), find(parent, b));
    if a != b {
        parent[a.max(b)] = a.min(b);
    }
}

/// The order of a set of services: a topological sequence and its lanes.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Order {
    /// Every service in start order.
    pub(crate) sequence: Vec<String>,
    /// The lanes, each in start order; a lane comes before another when its
    /// first service does.
    pub(crate) lanes: Vec<Vec<String>>,
    lane_of: BTreeMap<String, usize>,
    /// For each service, the services of the set that start directly before
    /// it because of `after` or `before`.
    predecessors: BTreeMap<String, BTreeSet<String>>,
}

impl Order {
    /// The same order with only the services in `keep`: lanes keep their
    /// grouping (Pebble's `intersectOrdered`), empty lanes go.
    pub(crate) fn restrict(&self, keep: &BTreeSet<String>) -> Order {
        let mut lanes = Vec::new();
        let mut lane_of = BTreeMap::new();
        for lane in &self.lanes {
            let kept: Vec<String> = lane.iter().filter(|n| keep.contains(*n)).cloned().collect();
            if !kept.is_empty() {
                for name in &kept {
                    lane_of.insert(name.clone(), lanes.len());
                }
                lanes.push(kept);
            }
        }
        Order {
            sequence: self
                .sequence
                .iter()
                .filter(|n| keep.contains(*n))
                .cloned()
                .collect(),
            lanes,
            lane_of,
            predecessors: self
                .predecessors
                .iter()
                .filter(|(n, _)| keep.contains(*n))
                .map(|(n, preds)| (n.clone(), preds.intersection(keep).cloned().collect()))
                .collect(),
        }
    }

    /// Each service with the services whose start it waits for: the one
    /// before it in its lane and its predecessors in other lanes (D8). In
    /// the order the tasks are made: lane by lane.
    pub(crate) fn start_waits(&self) -> Vec<(String, Vec<String>)> {
        let mut out = Vec::new();
        for (lane_index, lane) in self.lanes.iter().enumerate() {
            for (i, name) in lane.iter().enumerate() {
                let mut waits: Vec<String> = i
                    .checked_sub(1)
                    .map(|p| lane[p].clone())
                    .into_iter()
                    .collect();
                for pred in self.predecessors.get(name).into_iter().flatten() {
                    if self.lane_of.get(pred) != Some(&lane_index) {
                        waits.push(pred.clone());
                    }
                }
                out.push((name.clone(), waits));
            }
        }
        out
    }

    /// Each service with the services whose stop it waits for: the one
    /// after it in its lane (lanes stop in reverse) and, across lanes, the
    /// services that start after it.
    pub(crate) fn stop_waits(&self) -> Vec<(String, Vec<String>)> {
        let mut successors: BTreeMap<&str, Vec<&str>> = BTreeMap::new();
        for (name, preds) in &self.predecessors {
            for pred in preds {
                successors.entry(pred).or_default().push(name);
            }
        }
        let mut out = Vec::new();
        for (lane_index, lane) in self.lanes.iter().enumerate() {
            let reversed: Vec<&String> = lane.iter().rev().collect();
            for (i, name) in reversed.iter().enumerate() {
                let mut waits: Vec<String> = i
                    .checked_sub(1)
                    .map(|p| reversed[p].clone())
                    .into_iter()
                    .collect();
                for succ in successors.get(name.as_str()).into_iter().flatten() {
                    if self.lane_of.get(*succ) != Some(&lane_index) {
                        waits.push((*succ).to_owned());
                    }
                }
                out.push(((*name).clone(), waits));
            }
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use vigil_proto::plan::{Layer, Source};

    use super::*;

    fn graph(yaml: &str) -> Graph {
        let layer = Layer::parse(yaml, "test", "test", Source::Api("test".into())).unwrap();
        Graph::of_plan(&Plan::build(&[layer]).unwrap().plan)
    }

    fn names(list: &[&str]) -> Vec<String> {
        list.iter().map(|s| (*s).to_owned()).collect()
    }

    fn set(list: &[&str]) -> BTreeSet<String> {
        names(list).into_iter().collect()
    }

    const SHOP: &str = "services:
  db: {command: db}
  cache: {command: cache, before: [web]}
  web: {command: web, requires: [db], after: [db]}
  api: {command: api, requires: [web], after: [web]}
  batch: {command: batch, after: [db]}
";

    #[test]
    fn closures_follow_requires_both_ways() {
        let g = graph(SHOP);
        assert_eq!(
            g.start_closure(&names(&["api"])).unwrap(),
            set(&["api", "db", "web"])
        );
        assert_eq!(
            g.stop_closure(&names(&["db"])).unwrap(),
            set(&["api", "db", "web"])
        );
        assert_eq!(g.stop_closure(&names(&["batch"])).unwrap(), set(&["batch"]));
        assert_eq!(
            g.start_closure(&names(&["nope"])),
            Err(UnknownService("nope".into()))
        );
    }

    #[test]
    fn order_is_topological_with_lanes_by_requires() {
        let g = graph(SHOP);
        let order = g
            .order(&set(&["api", "batch", "cache", "db", "web"]))
            .unwrap();
        assert_eq!(
            order.sequence,
            names(&["cache", "db", "batch", "web", "api"])
        );
        assert_eq!(
            order.lanes,
            vec![
                names(&["cache"]),
                names(&["db", "web", "api"]),
                names(&["batch"])
            ]
        );
        let waits = order.start_waits();
        assert_eq!(
            waits,
            vec![
                ("cache".into(), vec![]),
                ("db".into(), vec![]),
                ("web".into(), names(&["db", "cache"])),
                ("api".into(), names(&["web"])),
                ("batch".into(), names(&["db"])),
            ]
        );
        let stops = order.stop_waits();
        assert_eq!(
            stops,
            vec![
                ("cache".into(), names(&["web"])),
                ("api".into(), vec![]),
                ("web".into(), names(&["api"])),
                ("db".into(), names(&["web", "batch"])),
                ("batch".into(), vec![]),
            ]
        );
    }

    #[test]
    fn restrict_keeps_lane_grouping() {
        let g = graph(SHOP);
        let order = g.order(&set(&["api", "db", "web"])).unwrap();
        let only = order.restrict(&set(&["api", "db"]));
        assert_eq!(only.lanes, vec![names(&["db", "api"])]);
        assert_eq!(
            only.stop_waits(),
            vec![("api".into(), vec![]), ("db".into(), names(&["api"]))]
        );
    }

    #[test]
    fn a_loop_is_reported_with_its_members() {
        // The plan refuses loops, so build the graph by hand.
        let a = Relations {
            after: names(&["b"]),
            ..Relations::default()
        };
        let b = Relations {
            after: names(&["a"]),
            ..Relations::default()
        };
        let c = Relations {
            after: names(&["a"]),
            ..Relations::default()
        };
        let g = Graph::of([("a", &a), ("b", &b), ("c", &c)]);
        assert_eq!(
            g.order(&set(&["a", "b", "c"])),
            Err(OrderLoop(names(&["a", "b"])))
        );
    }
}

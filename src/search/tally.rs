//! One pass over the matching documents: the exact total and the facet
//! counts (status, roles, second factor, groups), read from fast fields. Runs beside the top-docs
//! collector, so a search evaluates its query once.

use std::collections::HashMap;

use tantivy::collector::{Collector, SegmentCollector};
use tantivy::columnar::Column;
use tantivy::{DocId, Score, SegmentOrdinal, SegmentReader};

use super::view::View;

/// Counts indexed by the stored codes: status 0 active, 1 disabled; roles by
/// role code (up to 8).
#[derive(Debug, Default, Clone)]
pub struct Counts {
    pub total: usize,
    pub status: [usize; 2],
    pub roles: [usize; 8],
    /// Without, with a second factor.
    pub mfa: [usize; 2],
    /// Per group key, when groups are counted.
    pub groups: HashMap<u64, usize>,
}

pub struct Tally<'a> {
    pub facets: bool,
    /// Count per group too (a column read per match).
    pub groups: bool,
    /// The view searched: its segments' status and roles columns.
    pub view: &'a View,
}

pub struct SegmentTally {
    counts: Counts,
    columns: Option<[Column<u64>; 3]>,
    groups: Option<Column<u64>>,
}

impl Collector for Tally<'_> {
    type Fruit = Counts;
    type Child = SegmentTally;

    fn for_segment(&self, ord: SegmentOrdinal, _: &SegmentReader) -> tantivy::Result<SegmentTally> {
        let columns = self.facets.then(|| {
            let c = self.view.segment(ord);
            [c.status.clone(), c.roles.clone(), c.mfa_enabled.clone()]
        });
        let groups = self.groups.then(|| self.view.segment(ord).groups.clone());
        Ok(SegmentTally {
            counts: Counts::default(),
            columns,
            groups,
        })
    }

    fn requires_scoring(&self) -> bool {
        false
    }

    fn merge_fruits(&self, fruits: Vec<Counts>) -> tantivy::Result<Counts> {
        let mut all = Counts::default();
        for f in fruits {
            all.total += f.total;
            for (a, b) in all.status.iter_mut().zip(f.status) {
                *a += b;
            }
            for (a, b) in all.roles.iter_mut().zip(f.roles) {
                *a += b;
            }
            for (a, b) in all.mfa.iter_mut().zip(f.mfa) {
                *a += b;
            }
            for (g, n) in f.groups {
                *all.groups.entry(g).or_default() += n;
            }
        }
        Ok(all)
    }
}

impl SegmentCollector for SegmentTally {
    type Fruit = Counts;

    fn collect(&mut self, doc: DocId, _: Score) {
        self.counts.total += 1;
        if let Some([status, roles, mfa]) = &self.columns {
            if let Some(s) = status.first(doc)
                && let Some(slot) = self.counts.status.get_mut(s as usize)
            {
                *slot += 1;
            }
            if let Some(m) = mfa.first(doc)
                && let Some(slot) = self.counts.mfa.get_mut(m as usize)
            {
                *slot += 1;
            }
            for r in roles.values_for_doc(doc) {
                if let Some(slot) = self.counts.roles.get_mut(r as usize) {
                    *slot += 1;
                }
            }
        }
        if let Some(groups) = &self.groups {
            for g in groups.values_for_doc(doc) {
                *self.counts.groups.entry(g).or_default() += 1;
            }
        }
    }

    fn harvest(self) -> Counts {
        self.counts
    }
}

//! The request log both fakes keep: oldest first, bounded (the oldest entry goes first when full).

use std::collections::VecDeque;

/// A bounded log of `T`, oldest first.
#[derive(Clone, Debug)]
pub struct RequestLog<T> {
    entries: VecDeque<T>,
    capacity: usize,
}

impl<T: Clone> RequestLog<T> {
    /// A log keeping at most `capacity` entries (0 keeps none).
    pub fn new(capacity: usize) -> Self {
        Self {
            entries: VecDeque::new(),
            capacity,
        }
    }

    /// A log without a bound.
    pub fn unbounded() -> Self {
        Self::new(usize::MAX)
    }

    /// Appends `entry`, dropping the oldest ones when full.
    pub fn push(&mut self, entry: T) {
        if self.capacity == 0 {
            return;
        }
        while self.entries.len() >= self.capacity {
            self.entries.pop_front();
        }
        self.entries.push_back(entry);
    }

    /// Every entry, oldest first.
    pub fn entries(&self) -> Vec<T> {
        self.entries.iter().cloned().collect()
    }

    /// The entries, oldest first, without copying.
    pub fn iter(&self) -> impl Iterator<Item = &T> {
        self.entries.iter()
    }

    /// How many entries there are.
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// Whether there are none.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// Empties the log.
    pub fn clear(&mut self) {
        self.entries.clear();
    }

    /// Changes the bound, dropping the oldest entries beyond it.
    pub fn set_capacity(&mut self, capacity: usize) {
        self.capacity = capacity;
        while self.entries.len() > capacity {
            self.entries.pop_front();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keeps_the_newest_entries_within_capacity() {
        let mut log = RequestLog::new(2);
        for n in 1..=3 {
            log.push(n);
        }
        assert_eq!(log.entries(), vec![2, 3]);
        log.set_capacity(1);
        assert_eq!(log.entries(), vec![3]);
        let mut none = RequestLog::new(0);
        none.push(1);
        assert!(none.is_empty());
        log.clear();
        assert_eq!(log.len(), 0);
    }
}

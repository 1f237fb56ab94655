//! One byte budget for everything the tracker buffers on a LAN host's behalf: out-of-order
//! TCP data held for reassembly and partial TLS hellos. Per-session caps alone let a host that
//! fabricates sessions hold tens of KiB in each of tens of thousands of them for hours
//! (docs/threat-model.md); the budget caps the sum.
//!
//! Streams and hello walkers are created deep inside a session, so they find the budget of
//! the tracker that is handling the packet through [`Scope`], set for the length of that call,
//! and keep a [`Charge`] that gives its bytes back when they are freed or dropped.

use std::cell::RefCell;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::Arc;

/// The budget shared by one tracker's sessions.
#[derive(Debug)]
pub struct Budget {
    limit: usize,
    used: AtomicUsize,
    /// Requests refused because the budget was spent.
    refused: AtomicU64,
}

impl Budget {
    pub fn new(limit: usize) -> Arc<Self> {
        Arc::new(Self {
            limit,
            used: AtomicUsize::new(0),
            refused: AtomicU64::new(0),
        })
    }

    pub fn used(&self) -> usize {
        self.used.load(Ordering::Relaxed)
    }

    pub fn refused(&self) -> u64 {
        self.refused.load(Ordering::Relaxed)
    }

    /// Takes `bytes` if the total stays within `limit` (the whole budget or a share of it).
    fn try_take(&self, bytes: usize, limit: usize) -> bool {
        let taken = self
            .used
            .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |used| {
                used.checked_add(bytes).filter(|total| *total <= limit)
            })
            .is_ok();
        if !taken {
            self.refused.fetch_add(1, Ordering::Relaxed);
        }
        taken
    }

    fn give_back(&self, bytes: usize) {
        let _ = self
            .used
            .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |used| {
                Some(used.saturating_sub(bytes))
            });
    }
}

thread_local! {
    static CURRENT: RefCell<Option<Arc<Budget>>> = const { RefCell::new(None) };
}

/// While alive, buffers created on this thread charge `budget`.
pub struct Scope {
    previous: Option<Arc<Budget>>,
}

impl Scope {
    pub fn enter(budget: &Arc<Budget>) -> Self {
        let previous = CURRENT.with(|c| c.replace(Some(Arc::clone(budget))));
        Self { previous }
    }
}

impl Drop for Scope {
    fn drop(&mut self) {
        let previous = self.previous.take();
        CURRENT.with(|c| *c.borrow_mut() = previous);
    }
}

/// The bytes one buffer holds against the budget that was in scope when it was created
/// (none outside a tracker: then nothing is limited, as for a parser used on its own).
#[derive(Debug)]
pub struct Charge {
    budget: Option<Arc<Budget>>,
    held: usize,
}

impl Default for Charge {
    fn default() -> Self {
        Self {
            budget: CURRENT.with(|c| c.borrow().clone()),
            held: 0,
        }
    }
}

impl Charge {
    /// Takes `bytes` more from the budget; false (and nothing taken) when it would overrun.
    pub fn try_add(&mut self, bytes: usize) -> bool {
        self.take(bytes, |b| b.limit)
    }

    /// Like [`Self::try_add`], but only while at most half the budget would be spent: for
    /// bytes that help less than a hello does.
    pub fn try_add_within_half(&mut self, bytes: usize) -> bool {
        self.take(bytes, |b| b.limit / 2)
    }

    fn take(&mut self, bytes: usize, limit: impl Fn(&Budget) -> usize) -> bool {
        if let Some(budget) = &self.budget {
            if !budget.try_take(bytes, limit(budget)) {
                return false;
            }
        }
        self.held = self.held.saturating_add(bytes);
        true
    }

    /// Gives back everything held (the buffer was freed).
    pub fn release(&mut self) {
        if let Some(budget) = &self.budget {
            budget.give_back(self.held);
        }
        self.held = 0;
    }
}

impl Drop for Charge {
    fn drop(&mut self) {
        self.release();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn charges_stop_at_the_limit_and_come_back_when_freed_or_dropped() {
        let budget = Budget::new(100);
        let scope = Scope::enter(&budget);
        let mut a = Charge::default();
        let mut b = Charge::default();
        drop(scope);
        let outside = Charge::default();
        assert!(outside.budget.is_none(), "no tracker in scope: unlimited");
        assert!(a.try_add(60));
        assert!(!b.try_add(41));
        assert_eq!(budget.refused(), 1);
        assert!(
            !b.try_add_within_half(1),
            "past half: only the whole budget"
        );
        assert_eq!(budget.refused(), 2);
        assert!(b.try_add(40));
        assert_eq!(budget.used(), 100);
        a.release();
        assert_eq!(budget.used(), 40);
        drop(b);
        assert_eq!(budget.used(), 0);
    }
}

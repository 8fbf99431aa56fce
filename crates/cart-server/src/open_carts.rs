//! The registry of open carts: one shared value (the [`crate::hub::CartHub`]) per cart, kept
//! while anyone holds a guard for it and dropped with the last guard.
//!
//! [`OpenCarts::open`] and [`OpenCarts::get`] hand out an [`OpenCart`], a guard that reaches the
//! cart's value and counts one reference to it; [`OpenCart::hold`] counts one more without
//! reaching the value (a peer's link keeps one for as long as it is linked). Dropping a guard
//! releases its count, also when it is dropped by a panic; the entry goes with the last count,
//! and the next [`OpenCarts::open`] makes a new value. Nobody releases by hand.
//!
//! Releasing only takes the registry's own (synchronous, never awaited) lock, so a guard may be
//! dropped while a cart's state lock is held. An entry that goes is dropped after that lock is
//! let go. A [`Hold`] does not keep the value or the registry alive: a value may own the holds
//! of its links without a reference cycle, and a hold outliving its registry releases nothing.

use std::collections::HashMap;
use std::ops::Deref;
use std::sync::{Arc, Mutex, MutexGuard, Weak};

use cart_core::CartId;

/// One open cart: its value and how many guards count it.
struct Entry<H> {
    value: Arc<H>,
    /// Live [`OpenCart`]s and [`Hold`]s of this cart; the entry goes at zero.
    refs: usize,
}

type Map<H> = Mutex<HashMap<CartId, Entry<H>>>;

fn lock<H>(map: &Map<H>) -> MutexGuard<'_, HashMap<CartId, Entry<H>>> {
    // Nothing panics while the map is locked; a poisoned map is still consistent.
    map.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

/// The open carts of this server instance, each with one shared value of type `H`.
pub struct OpenCarts<H> {
    carts: Arc<Map<H>>,
}

impl<H> Default for OpenCarts<H> {
    fn default() -> Self {
        OpenCarts {
            carts: Arc::new(Mutex::new(HashMap::new())),
        }
    }
}

impl<H> std::fmt::Debug for OpenCarts<H> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("OpenCarts")
            .field("open", &self.len())
            .finish()
    }
}

impl<H> OpenCarts<H> {
    /// No open carts.
    pub fn new() -> OpenCarts<H> {
        OpenCarts::default()
    }

    /// A guard for `cart`, opening it with `make(cart)` when it is not open.
    pub fn open(&self, cart: CartId, make: impl FnOnce(CartId) -> H) -> OpenCart<H> {
        let mut carts = lock(&self.carts);
        let entry = carts.entry(cart).or_insert_with(|| Entry {
            value: Arc::new(make(cart)),
            refs: 0,
        });
        entry.refs += 1;
        OpenCart {
            value: Arc::clone(&entry.value),
            hold: Hold {
                carts: Arc::downgrade(&self.carts),
                cart,
            },
        }
    }

    /// A guard for `cart` when it is open; `None` (opening nothing) when it is not.
    pub fn get(&self, cart: CartId) -> Option<OpenCart<H>> {
        let mut carts = lock(&self.carts);
        let entry = carts.get_mut(&cart)?;
        entry.refs += 1;
        Some(OpenCart {
            value: Arc::clone(&entry.value),
            hold: Hold {
                carts: Arc::downgrade(&self.carts),
                cart,
            },
        })
    }

    /// The carts open now.
    pub fn ids(&self) -> Vec<CartId> {
        lock(&self.carts).keys().copied().collect()
    }

    /// How many carts are open now.
    pub fn len(&self) -> usize {
        lock(&self.carts).len()
    }

    /// Whether no cart is open.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// A guard for one open cart: reaches its value (through `Deref`) and keeps the cart open until
/// it is dropped.
pub struct OpenCart<H> {
    value: Arc<H>,
    hold: Hold<H>,
}

impl<H> OpenCart<H> {
    /// The cart this guard is for.
    pub fn cart(&self) -> CartId {
        self.hold.cart
    }

    /// One more count on this cart, released when the returned [`Hold`] is dropped; it keeps
    /// the cart open (and its value in the registry) without reaching the value.
    pub fn hold(&self) -> Hold<H> {
        if let Some(carts) = self.hold.carts.upgrade() {
            if let Some(entry) = lock(&carts).get_mut(&self.hold.cart) {
                entry.refs += 1;
            }
        }
        Hold {
            carts: Weak::clone(&self.hold.carts),
            cart: self.hold.cart,
        }
    }
}

impl<H> Deref for OpenCart<H> {
    type Target = H;

    fn deref(&self) -> &H {
        &self.value
    }
}

/// A count on one open cart without access to its value: the cart stays open until it is
/// dropped. Made by [`OpenCart::hold`].
pub struct Hold<H> {
    carts: Weak<Map<H>>,
    cart: CartId,
}

impl<H> std::fmt::Debug for Hold<H> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Hold").field("cart", &self.cart).finish()
    }
}

impl<H> Drop for Hold<H> {
    fn drop(&mut self) {
        let Some(carts) = self.carts.upgrade() else {
            return;
        };
        let gone = {
            let mut carts = lock(&carts);
            match carts.get_mut(&self.cart) {
                Some(entry) if entry.refs > 1 => {
                    entry.refs -= 1;
                    None
                }
                Some(_) => carts.remove(&self.cart),
                None => None,
            }
        };
        // Dropped here, after the lock: the value's own drop may release holds it owns.
        drop(gone);
    }
}

#[cfg(test)]
mod tests {
    use std::panic::{catch_unwind, AssertUnwindSafe};

    use super::*;

    fn cart(n: u8) -> CartId {
        CartId::from_bytes([n; 16])
    }

    #[test]
    fn the_entry_goes_when_the_last_guard_drops() {
        let carts = OpenCarts::new();
        let first = carts.open(cart(1), |_| "hub");
        let second = carts.get(cart(1));
        assert!(second.is_some());
        assert_eq!(carts.len(), 1);
        drop(first);
        assert_eq!(carts.len(), 1, "one guard is left");
        drop(second);
        assert!(carts.is_empty());
        assert!(carts.get(cart(1)).is_none(), "get opens nothing");
        assert!(carts.is_empty());
    }

    #[test]
    fn two_guards_share_one_value_and_a_reopened_cart_gets_a_new_one() {
        let carts = OpenCarts::new();
        let made = std::cell::Cell::new(0);
        let make = |_| {
            made.set(made.get() + 1);
            made.get()
        };
        let first = carts.open(cart(1), make);
        let second = carts.open(cart(1), make);
        assert!(Arc::ptr_eq(&first.value, &second.value));
        assert_eq!((*first, *second, made.get()), (1, 1, 1));
        let other = carts.open(cart(2), make);
        assert_eq!((*other, carts.len()), (2, 2));
        drop((first, second, other));
        assert_eq!(
            *carts.open(cart(1), make),
            3,
            "the next open makes a new value"
        );
    }

    #[test]
    fn a_hold_keeps_the_cart_open_after_its_guard_drops() {
        let carts = OpenCarts::new();
        let guard = carts.open(cart(1), |_| ());
        let hold = guard.hold();
        drop(guard);
        assert_eq!(carts.len(), 1);
        assert!(carts.get(cart(1)).is_some());
        drop(hold);
        assert!(carts.is_empty());
    }

    #[test]
    fn a_guard_dropped_during_a_panic_still_releases() {
        let carts = OpenCarts::new();
        let panicked = catch_unwind(AssertUnwindSafe(|| {
            let _guard = carts.open(cart(1), |_| ());
            let _hold = carts.get(cart(1)).map(|guard| guard.hold());
            assert_eq!(carts.len(), 1);
            panic!("while handling a message");
        }));
        assert!(panicked.is_err());
        assert!(carts.is_empty());
    }

    #[test]
    fn a_value_may_own_holds_of_its_own_cart_without_a_deadlock_or_a_leak() {
        struct Hub {
            links: Mutex<Vec<Hold<Hub>>>,
        }
        let carts = OpenCarts::new();
        let guard = carts.open(cart(1), |_| Hub {
            links: Mutex::new(Vec::new()),
        });
        guard.links.lock().unwrap().push(guard.hold());
        let weak = Arc::downgrade(&guard.value);
        drop(guard);
        assert_eq!(carts.len(), 1, "the link keeps the cart open");
        // The last link unlinks: its hold drops while the value is reached through a guard.
        let guard = carts.get(cart(1)).unwrap();
        let link = guard.links.lock().unwrap().pop();
        drop(link);
        drop(guard);
        assert!(carts.is_empty());
        assert!(weak.upgrade().is_none(), "the value is dropped");
        // A registry dropped with links still in its values frees them.
        let guard = carts.open(cart(2), |_| Hub {
            links: Mutex::new(Vec::new()),
        });
        guard.links.lock().unwrap().push(guard.hold());
        let weak = Arc::downgrade(&guard.value);
        drop(guard);
        drop(carts);
        assert!(weak.upgrade().is_none(), "no reference cycle");
    }
}

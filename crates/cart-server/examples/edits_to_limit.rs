//! How many edits an honest cart takes to reach the server's document size limit
//! (`--max-document-bytes`, 2 MiB by default): an Automerge cart keeps its whole history, so
//! every edit makes the saved cart larger, even one that undoes another.
//!
//! ```sh
//! cargo run --release -p cart-server --example edits_to_limit [EDITS]
//! ```
//!
//! For each kind of edit it makes EDITS edits (default 2000) the way the browser module does,
//! measures the saved size (`Cart::save`, what the server limits) and prints the bytes per edit
//! and the edits until the default limit, extrapolated linearly from that run.

use cart_core::{Cart, CartId, NewItem};
use cart_server::limits::Limits;

fn item(sku: &str) -> NewItem {
    NewItem {
        sku: sku.to_string(),
        name: format!("Organic cotton tee, size {sku}"),
        unit_price: 2490,
        currency: "EUR".to_string(),
        quantity: 1,
        image_url: Some(format!("/img/{sku}.svg")),
        variant: None,
    }
}

/// A cart with three lines, as a shopper's cart often is before the edits measured.
fn starting_cart() -> Cart {
    let mut cart = Cart::new(CartId::random().expect("a random cart id"));
    for sku in ["TEE-M", "MUG", "CAP"] {
        cart.add_item(&item(sku)).expect("a valid line");
    }
    cart
}

/// One kind of edit: takes the cart and the edit's number, returns the edited cart.
type Edit = fn(Cart, usize) -> Cart;

/// Runs `edits` edits of one kind on a starting cart; returns the saved size before and after.
fn measure(edits: usize, mut edit: impl FnMut(Cart, usize) -> Cart) -> (usize, usize) {
    let mut cart = starting_cart();
    let before = cart.save().len();
    for n in 0..edits {
        cart = edit(cart, n);
    }
    (before, cart.save().len())
}

/// The stepper on one line: + adds one unit, − sets one less; they alternate.
fn stepper(mut cart: Cart, n: usize) -> Cart {
    if n.is_multiple_of(2) {
        cart.add_item(&item("TEE-M")).expect("+");
    } else {
        let quantity = cart.quantity("TEE-M");
        cart.set_quantity("TEE-M", quantity - 1).expect("-");
    }
    cart
}

/// A line of a new sku each time (the line limit, 500 by default, comes first in practice).
fn new_line(mut cart: Cart, n: usize) -> Cart {
    cart.add_item(&item(&format!("SKU-{n}")))
        .expect("a new line");
    cart
}

/// The + button once per page load: each edit made by a new actor, as a reload makes one.
fn stepper_after_reload(mut cart: Cart, n: usize) -> Cart {
    let id = *cart.id();
    let mut reloaded = Cart::load(id, &cart.save()).expect("reloads");
    reloaded = stepper(reloaded, n);
    reloaded
}

fn main() {
    let edits: usize = std::env::args()
        .nth(1)
        .and_then(|a| a.parse().ok())
        .unwrap_or(2000);
    let limit = Limits::default().max_document_bytes;
    println!("saved-size limit: {limit} bytes; {edits} edits of each kind on a 3-line cart\n");
    println!("| edit | start bytes | bytes after {edits} | bytes per edit | edits to the limit |");
    println!("|---|---:|---:|---:|---:|");
    let kinds: [(&str, Edit); 3] = [
        ("stepper +/- on one line, same page", stepper),
        ("add a new line (new sku)", new_line),
        (
            "stepper +/-, a page load before each edit",
            stepper_after_reload,
        ),
    ];
    for (name, edit) in kinds {
        let (start, end) = measure(edits, edit);
        let per_edit = (end - start) as f64 / edits as f64;
        let to_limit = (limit.saturating_sub(start)) as f64 / per_edit;
        println!("| {name} | {start} | {end} | {per_edit:.1} | {to_limit:.0} |");
    }
}

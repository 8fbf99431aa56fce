//! Fuzz target `wire_decode`: see `cart_fuzz::wire_decode` for the input and what is asserted.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| cart_fuzz::wire_decode(data));

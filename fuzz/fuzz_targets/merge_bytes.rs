//! Fuzz target `merge_bytes`: see `cart_fuzz::merge_bytes` for the input and what is asserted.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| cart_fuzz::merge_bytes(data));

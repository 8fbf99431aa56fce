//! Fuzz target `schema_check`: see `cart_fuzz::schema_check` for the input and what is asserted.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| cart_fuzz::schema_check(data));

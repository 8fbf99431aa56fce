//! Fuzz target `server_sync`: see `cart_fuzz::server_sync` for the input and what is asserted.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| cart_fuzz::server_sync(data));

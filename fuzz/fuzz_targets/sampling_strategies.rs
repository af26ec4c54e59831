//! Sampling strategies files (local or fetched from a URL) and sampling
//! responses: never panic; what parses as a response re-encodes into
//! proto-JSON that parses back to the same response.
#![no_main]

use libfuzzer_sys::fuzz_target;
use spoor_codec::sampling_json as sj;

fuzz_target!(|data: &[u8]| {
    let _ = sj::parse_strategies(data, 0.001);
    let Ok(resp) = sj::decode_response(data) else {
        return;
    };
    let _ = sj::encode_response_legacy(&resp);
    let again = match sj::decode_response(&sj::encode_response(&resp)) {
        Ok(r) => r,
        Err(e) => panic!("re-encoded response does not decode: {e}"),
    };
    // NaN never equals itself; compare the encodings instead.
    assert_eq!(sj::encode_response(&resp), sj::encode_response(&again));
});

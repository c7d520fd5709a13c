//! The entry point of the console's fuzz target for the renewal upload form (`fuzz/`),
//! shared with the test that replays its committed corpus: a multipart body as a browser
//! (or anyone) may post it, read into the form and judged as an upload is.

use std::cell::RefCell;

use time::OffsetDateTime;

use crate::console::check_upload;
use crate::ui::read_upload;

thread_local! {
    static RUNTIME: RefCell<Option<tokio::runtime::Runtime>> = const { RefCell::new(None) };
}

/// The input's first line is the `Content-Type` (so the boundary is fuzzed too), the rest the
/// body. Whatever it holds, a refusal is a message that repeats no password the form gave
/// (secrets stay out of responses), and nothing panics.
pub fn upload_form(data: &[u8]) {
    let (content_type, body) = match data.iter().position(|&b| b == b'\n') {
        Some(at) => (&data[..at], &data[at + 1..]),
        None => (data, &[][..]),
    };
    let content_type = String::from_utf8_lossy(content_type).into_owned();
    let read = RUNTIME.with(|cell| {
        let mut cell = cell.borrow_mut();
        let runtime = cell.get_or_insert_with(|| {
            tokio::runtime::Builder::new_current_thread()
                .build()
                .expect("a runtime")
        });
        runtime.block_on(read_upload(&content_type, body.to_vec()))
    });
    let Ok(form) = read else { return };
    let now = OffsetDateTime::from_unix_timestamp(1_798_761_600).expect("2027-01-01");
    if let Err(message) = check_upload(&form, now) {
        for secret in [&form.password, &form.key_password].into_iter().flatten() {
            // A short password can occur in any message by chance.
            if secret.len() >= 12 {
                assert!(
                    !message.contains(secret.as_str()),
                    "a refusal repeats a password"
                );
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use certfleet_fuzz_corpus::replay;

    #[test]
    fn the_committed_corpus_replays() {
        assert!(replay("upload_form", super::upload_form) > 0);
    }
}

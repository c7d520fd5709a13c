//! The renewal upload form of the web UI: a plain multipart POST (a PFX file, or PEM
//! texts), so it works without JavaScript too. Authenticated by the session cookie, same
//! origin only, operator or admin; answered with a redirect to the renewal, or back to the
//! form with the reason.

use axum::extract::{FromRequest, Multipart, Request, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use base64::Engine;
use zeroize::Zeroizing;

use crate::console::{Console, Operator, UploadRequest};

/// Reads every field of the form; a file field becomes base64.
async fn read_form(mut multipart: Multipart) -> Result<UploadRequest, String> {
    let mut request = UploadRequest {
        pfx_base64: None,
        password: None,
        certificate_pem: None,
        key_pem: None,
        chain_pem: None,
        key_password: None,
    };
    while let Some(field) = multipart
        .next_field()
        .await
        .map_err(|e| format!("the upload was cut short or malformed: {e}; send it again"))?
    {
        let name = field.name().unwrap_or_default().to_owned();
        let bytes = Zeroizing::new(
            field
                .bytes()
                .await
                .map_err(|e| format!("the field {name} could not be read: {e}"))?
                .to_vec(),
        );
        let text =
            || Some(String::from_utf8_lossy(&bytes).into_owned()).filter(|t| !t.trim().is_empty());
        match name.as_str() {
            "pfx" if !bytes.is_empty() => {
                request.pfx_base64 =
                    Some(base64::engine::general_purpose::STANDARD.encode(&bytes[..]));
            }
            "password" => request.password = text().map(Zeroizing::new),
            "certificate_pem" => request.certificate_pem = text(),
            "key_pem" => request.key_pem = text().map(Zeroizing::new),
            "chain_pem" => request.chain_pem = text(),
            "key_password" => request.key_password = text().map(Zeroizing::new),
            _ => {}
        }
    }
    // A password typed for PEM is the key's pass phrase.
    if request.pfx_base64.is_none() && request.key_password.is_none() {
        request.key_password = request.password.take();
    }
    Ok(request)
}

/// Reads an upload form from its `Content-Type` and body, as `upload` does after its checks
/// of the caller (the fuzz target's way in).
pub async fn read_upload(content_type: &str, body: Vec<u8>) -> Result<UploadRequest, String> {
    let request = Request::builder()
        .method("POST")
        .header(axum::http::header::CONTENT_TYPE, content_type)
        .body(axum::body::Body::from(body))
        .map_err(|e| format!("not a request: {e}"))?;
    let multipart = Multipart::from_request(request, &())
        .await
        .map_err(|e| format!("the upload is not a form: {e}"))?;
    read_form(multipart).await
}

fn back_with(message: &str) -> Response {
    let query: String = url_escape(message);
    Redirect::to(&format!("/renewals?error={query}")).into_response()
}

fn url_escape(text: &str) -> String {
    text.bytes()
        .take(1500)
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                (b as char).to_string()
            }
            b' ' => "+".to_owned(),
            _ => format!("%{b:02X}"),
        })
        .collect()
}

/// `POST /ui/renewals/upload`.
pub async fn upload(State(console): State<Console>, request: Request) -> Response {
    let (parts, body) = request.into_parts();
    if !crate::auth::same_origin(&parts) {
        return (
            StatusCode::FORBIDDEN,
            "Cross-origin request refused: uploads must come from the console's own pages.",
        )
            .into_response();
    }
    let Some(caller) = super::export::session_caller(&console, &parts.headers).await else {
        return Redirect::to("/login").into_response();
    };
    let Ok(who) = caller.can::<Operator>() else {
        return back_with("uploading a renewal needs the operator or admin role");
    };
    let multipart = match Multipart::from_request(Request::from_parts(parts, body), &console).await
    {
        Ok(m) => m,
        Err(e) => return back_with(&format!("the upload is not a form: {e}")),
    };
    let form = match read_form(multipart).await {
        Ok(form) => form,
        Err(message) => return back_with(&message),
    };
    match console.upload_renewal(who, &form).await {
        Ok(row) => Redirect::to(&format!("/renewals/{}", row.id)).into_response(),
        Err(e) => back_with(&e.to_string()),
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn messages_survive_the_query_string() {
        assert_eq!(
            super::url_escape("key_mismatch: a/b & c"),
            "key_mismatch%3A+a%2Fb+%26+c"
        );
    }
}

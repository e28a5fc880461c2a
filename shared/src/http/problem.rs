//! The problems' vocabulary: every `code` a problem+json answer can carry,
//! each with its one HTTP status and its title. A [`super::Problem`] is made
//! from a [`ProblemCode`] and nothing else, so the wire codes are these
//! variants' names (API.md, "Errors") and `tests/tests/openapi.rs` holds the
//! OpenAPI document to [`ProblemCode::ALL`].

use lambda_http::http::StatusCode;

/// A problem's stable `code`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum ProblemCode {
    /// A malformed request or a value the route refuses.
    InvalidRequest,
    /// The body is over [`super::MAX_BODY`].
    PayloadTooLarge,
    /// The request target is over [`super::MAX_TARGET`].
    UriTooLong,
    /// A body that is not JSON.
    UnsupportedMediaType,
    /// No such route, or no such method of the user's.
    NotFound,
    /// The route does not take the method (with `Allow`).
    MethodNotAllowed,
    /// Over a limit (with `Retry-After`).
    TooManyRequests,
    /// A backing service failed; nothing was changed.
    Unavailable,
    /// A username that is not one.
    InvalidUsername,
    /// An email address that is not one.
    InvalidEmail,
    /// A phone number that is not E.164.
    InvalidPhone,
    /// A new password against the policy (with `reasons`).
    WeakPassword,
    /// The username is someone else's.
    UsernameTaken,
    /// A code that is wrong, expired or spent.
    InvalidCode,
    /// A token that is missing, malformed, expired or dead.
    InvalidToken,
    /// The username or password is wrong.
    InvalidCredentials,
    /// The password was right; a second factor is needed (with `methods`).
    SecondFactorRequired,
    /// The change needs a recent sign-in.
    ReauthenticationRequired,
    /// As many methods of the kind as a user may hold.
    MethodLimit,
    /// Removing the method would leave fewer than the gates.
    MethodRequired,
    /// The human check refused.
    CaptchaFailed,
    /// The human check could not be made.
    CaptchaUnavailable,
}

impl ProblemCode {
    /// Every code, in the order the OpenAPI document lists them.
    pub const ALL: [Self; 22] = [
        Self::InvalidRequest,
        Self::PayloadTooLarge,
        Self::UriTooLong,
        Self::UnsupportedMediaType,
        Self::NotFound,
        Self::MethodNotAllowed,
        Self::TooManyRequests,
        Self::Unavailable,
        Self::InvalidUsername,
        Self::InvalidEmail,
        Self::InvalidPhone,
        Self::WeakPassword,
        Self::UsernameTaken,
        Self::InvalidCode,
        Self::InvalidToken,
        Self::InvalidCredentials,
        Self::SecondFactorRequired,
        Self::ReauthenticationRequired,
        Self::MethodLimit,
        Self::MethodRequired,
        Self::CaptchaFailed,
        Self::CaptchaUnavailable,
    ];

    /// The `code` on the wire (and the end of the problem's `type` URN).
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::InvalidRequest => "invalid_request",
            Self::PayloadTooLarge => "payload_too_large",
            Self::UriTooLong => "uri_too_long",
            Self::UnsupportedMediaType => "unsupported_media_type",
            Self::NotFound => "not_found",
            Self::MethodNotAllowed => "method_not_allowed",
            Self::TooManyRequests => "too_many_requests",
            Self::Unavailable => "unavailable",
            Self::InvalidUsername => "invalid_username",
            Self::InvalidEmail => "invalid_email",
            Self::InvalidPhone => "invalid_phone",
            Self::WeakPassword => "weak_password",
            Self::UsernameTaken => "username_taken",
            Self::InvalidCode => "invalid_code",
            Self::InvalidToken => "invalid_token",
            Self::InvalidCredentials => "invalid_credentials",
            Self::SecondFactorRequired => "second_factor_required",
            Self::ReauthenticationRequired => "reauthentication_required",
            Self::MethodLimit => "method_limit",
            Self::MethodRequired => "method_required",
            Self::CaptchaFailed => "captcha_failed",
            Self::CaptchaUnavailable => "captcha_unavailable",
        }
    }

    /// The HTTP status every problem of this code answers with.
    pub const fn status(self) -> StatusCode {
        match self {
            Self::InvalidRequest
            | Self::InvalidUsername
            | Self::InvalidEmail
            | Self::InvalidPhone
            | Self::WeakPassword
            | Self::InvalidCode
            | Self::CaptchaFailed => StatusCode::BAD_REQUEST,
            Self::InvalidToken
            | Self::InvalidCredentials
            | Self::SecondFactorRequired
            | Self::ReauthenticationRequired => StatusCode::UNAUTHORIZED,
            Self::NotFound => StatusCode::NOT_FOUND,
            Self::MethodNotAllowed => StatusCode::METHOD_NOT_ALLOWED,
            Self::UsernameTaken | Self::MethodLimit | Self::MethodRequired => StatusCode::CONFLICT,
            Self::PayloadTooLarge => StatusCode::PAYLOAD_TOO_LARGE,
            Self::UriTooLong => StatusCode::URI_TOO_LONG,
            Self::UnsupportedMediaType => StatusCode::UNSUPPORTED_MEDIA_TYPE,
            Self::TooManyRequests => StatusCode::TOO_MANY_REQUESTS,
            Self::Unavailable | Self::CaptchaUnavailable => StatusCode::SERVICE_UNAVAILABLE,
        }
    }

    /// The problem's `title`: the same for every problem of the code.
    pub const fn title(self) -> &'static str {
        match self {
            Self::InvalidRequest => "Invalid request",
            Self::PayloadTooLarge => "Payload too large",
            Self::UriTooLong => "URI too long",
            Self::UnsupportedMediaType => "Unsupported media type",
            Self::NotFound => "Not found",
            Self::MethodNotAllowed => "Method not allowed",
            Self::TooManyRequests => "Too many requests",
            Self::Unavailable => "Service unavailable",
            Self::InvalidUsername => "Invalid username",
            Self::InvalidEmail => "Invalid email",
            Self::InvalidPhone => "Invalid phone",
            Self::WeakPassword => "Weak password",
            Self::UsernameTaken => "Username taken",
            Self::InvalidCode => "Invalid code",
            Self::InvalidToken => "Invalid token",
            Self::InvalidCredentials => "Invalid credentials",
            Self::SecondFactorRequired => "Second factor required",
            Self::ReauthenticationRequired => "Sign in again",
            Self::MethodLimit => "Method limit",
            Self::MethodRequired => "Method required",
            Self::CaptchaFailed => "Human check failed",
            Self::CaptchaUnavailable => "Human check unavailable",
        }
    }
}

impl std::fmt::Display for ProblemCode {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::ProblemCode;

    #[test]
    fn every_code_is_snake_case_titled_and_its_own() {
        let mut names: Vec<_> = ProblemCode::ALL.iter().map(|c| c.as_str()).collect();
        for (c, name) in ProblemCode::ALL.iter().zip(&names) {
            assert!(
                name.chars().all(|x| x.is_ascii_lowercase() || x == '_'),
                "{c:?}"
            );
            assert!(!c.title().is_empty(), "{c:?}");
            assert!(
                c.status().is_client_error() || c.status().is_server_error(),
                "{c:?}"
            );
        }
        names.sort_unstable();
        names.dedup();
        assert_eq!(names.len(), ProblemCode::ALL.len());
    }
}

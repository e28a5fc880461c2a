//! The route keys: every operation a client can call, named once. What the
//! per-client limits ([`limits`](crate::limits)) count by and the meter's
//! charge ([`ports::ClientCharge`](crate::ports::ClientCharge)) names, so
//! both import it from here and neither imports the other for it.

/// Every operation a client can call, one per route: the name its limit goes
/// by (`SSPR_CLIENT_LIMITS`), the key of its function's route table, and what
/// the IAM test and the local host route by.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum RouteKey {
    Register,
    Confirm,
    Me,
    Email,
    Codes,
    Verify,
    Reset,
    Change,
    Unlock,
    Token,
    Jwks,
    // The recovery methods (function `methods`).
    Methods,
    MethodAdd,
    MethodConfirm,
    MethodRemove,
    Reconfirm,
    RecoveryCodes,
    // The pages (function `web`).
    Home,
    ResetPage,
    RegisterPage,
    AccountPage,
    Asset,
    Favicon,
    /// The OpenAPI document (function `web`).
    OpenApi,
}

impl RouteKey {
    pub const ALL: [RouteKey; 24] = [
        RouteKey::Register,
        RouteKey::Confirm,
        RouteKey::Me,
        RouteKey::Email,
        RouteKey::Codes,
        RouteKey::Verify,
        RouteKey::Reset,
        RouteKey::Change,
        RouteKey::Unlock,
        RouteKey::Token,
        RouteKey::Jwks,
        RouteKey::Methods,
        RouteKey::MethodAdd,
        RouteKey::MethodConfirm,
        RouteKey::MethodRemove,
        RouteKey::Reconfirm,
        RouteKey::RecoveryCodes,
        RouteKey::Home,
        RouteKey::ResetPage,
        RouteKey::RegisterPage,
        RouteKey::AccountPage,
        RouteKey::Asset,
        RouteKey::Favicon,
        RouteKey::OpenApi,
    ];

    /// The name a limit and a log line use (`codes`, `token`, ...).
    pub fn as_str(self) -> &'static str {
        match self {
            RouteKey::Register => "register",
            RouteKey::Confirm => "confirm",
            RouteKey::Me => "me",
            RouteKey::Email => "email",
            RouteKey::Codes => "codes",
            RouteKey::Verify => "verify",
            RouteKey::Reset => "reset",
            RouteKey::Change => "change",
            RouteKey::Unlock => "unlock",
            RouteKey::Token => "token",
            RouteKey::Jwks => "jwks",
            RouteKey::Methods => "methods",
            RouteKey::MethodAdd => "method_add",
            RouteKey::MethodConfirm => "method_confirm",
            RouteKey::MethodRemove => "method_remove",
            RouteKey::Reconfirm => "reconfirm",
            RouteKey::RecoveryCodes => "recovery_codes",
            RouteKey::Home => "home",
            RouteKey::ResetPage => "reset_page",
            RouteKey::RegisterPage => "register_page",
            RouteKey::AccountPage => "account_page",
            RouteKey::Asset => "asset",
            RouteKey::Favicon => "favicon",
            RouteKey::OpenApi => "openapi",
        }
    }

    pub fn parse(name: &str) -> Option<RouteKey> {
        Self::ALL.into_iter().find(|k| k.as_str() == name)
    }
}

impl std::fmt::Display for RouteKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

//! The `signin` Lambda function: its route table ([`sspr_signin::ROUTES`]) served
//! by sspr's one entry point (`sspr_core::http::start`).

fn main() -> Result<(), sspr_core::http::Error> {
    sspr_core::http::start(sspr_signin::ROUTES, sspr_signin::PARTS)
}

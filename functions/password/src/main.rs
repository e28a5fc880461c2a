//! The `password` Lambda function: its route table ([`sspr_password::ROUTES`]) served
//! by sspr's one entry point (`sspr_core::http::start`).

fn main() -> Result<(), sspr_core::http::Error> {
    sspr_core::http::start(sspr_password::ROUTES, sspr_password::PARTS)
}

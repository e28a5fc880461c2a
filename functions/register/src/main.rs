//! The `register` Lambda function: its route table ([`sspr_register::ROUTES`]) served
//! by sspr's one entry point (`sspr_core::http::start`).

fn main() -> Result<(), sspr_core::http::Error> {
    sspr_core::http::start(sspr_register::ROUTES, sspr_register::PARTS)
}

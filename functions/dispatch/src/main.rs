//! The `dispatch` Lambda function: its route table ([`sspr_dispatch::ROUTES`]) served
//! by sspr's one entry point (`sspr_core::http::start`).

fn main() -> Result<(), sspr_core::http::Error> {
    sspr_core::http::start(sspr_dispatch::ROUTES, sspr_dispatch::PARTS)
}

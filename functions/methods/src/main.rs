//! The `methods` Lambda function: its route table ([`sspr_methods::ROUTES`])
//! served by sspr's one entry point (`sspr_core::http::start`).

fn main() -> Result<(), sspr_core::http::Error> {
    sspr_core::http::start(sspr_methods::ROUTES, sspr_methods::PARTS)
}

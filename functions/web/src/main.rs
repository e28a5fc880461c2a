//! The `web` Lambda function: the pages' route table ([`sspr_web::ROUTES`])
//! served by sspr's one entry point (`sspr_core::http::start`).

fn main() -> Result<(), sspr_core::http::Error> {
    sspr_core::http::start(sspr_web::ROUTES, ())
}

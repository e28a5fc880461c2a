//! The floor for cold-start comparisons: a `lambda_http` function that answers
//! every request with 200, built with the same profile as sspr's functions.

use lambda_http::{run, service_fn, Body, Error, Request, Response};

#[tokio::main]
async fn main() -> Result<(), Error> {
    run(service_fn(|_req: Request| async {
        Ok::<_, Error>(Response::new(Body::from("hello")))
    }))
    .await
}

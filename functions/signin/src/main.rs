//! The `signin` Lambda function: state once per cold start, then `lambda_http::run`.

use lambda_http::{run, service_fn, Error, Request};

#[tokio::main]
async fn main() -> Result<(), Error> {
    sspr_core::app::init_tracing();
    let app = sspr_core::App::from_env().await?;
    run(service_fn(move |req: Request| {
        let app = app.clone();
        async move { Ok::<_, Error>(sspr_signin::handle(&app, req).await) }
    }))
    .await
}

//! The `mailer` Lambda function: the courier once per cold start, then the
//! table's stream, batch by batch.

use lambda_runtime::{run, service_fn, Error, LambdaEvent};

#[tokio::main]
async fn main() -> Result<(), Error> {
    sspr_core::app::init_tracing();
    let courier = sspr_core::app::courier_from_env().await?;
    run(service_fn(move |event: LambdaEvent<serde_json::Value>| {
        let courier = courier.clone();
        async move { Ok::<_, Error>(sspr_mailer::handle(&courier, event.payload).await) }
    }))
    .await
}

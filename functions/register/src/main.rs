//! The `register` Lambda function: sspr's entry point (the app built once per cold
//! start, every event admitted before `lambda_http` reads it) around its routes.

#[tokio::main]
async fn main() -> Result<(), lambda_http::Error> {
    sspr_core::http::run(|app, req| async move { sspr_register::handle(&app, req).await }).await
}

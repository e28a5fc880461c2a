//! The `rotate` Lambda function: the master secret's rotation, step by step
//! ([`sspr_rotate::start`]).

fn main() -> Result<(), lambda_runtime::Error> {
    sspr_rotate::start()
}

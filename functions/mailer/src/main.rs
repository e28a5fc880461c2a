//! The `mailer` Lambda function: the courier on the table's stream
//! ([`sspr_mailer::start`]).

fn main() -> Result<(), lambda_runtime::Error> {
    sspr_mailer::start()
}

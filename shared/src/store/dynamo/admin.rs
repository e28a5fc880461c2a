//! What operators and the local host do to the table, not requests: create
//! it (with its stream and TTL) where no template does, find its stream, and
//! read a user's audit trail and raw profile. Built for the local host and
//! the tests only (feature `embedded`); no deployed function carries it.
//! (The audit reads an operator needs too are `operator`'s.)

use aws_sdk_dynamodb::types::{
    AttributeDefinition, AttributeValue as Av, BillingMode, KeySchemaElement, KeyType,
    ScalarAttributeType, StreamSpecification, StreamViewType, TimeToLiveSpecification,
};

use super::schema::{Item, EXPIRES_AT, PK, SK};
use super::DynamoStore;
use crate::domain::Username;
use crate::ports::StoreError;

impl DynamoStore {
    /// Create the table with TTL on `expires_at` if it is missing (local host and
    /// tests; deployed, the SAM template owns the table).
    pub async fn ensure_table(&self) -> Result<(), StoreError> {
        let mut exists = false;
        let mut start: Option<String> = None;
        loop {
            let page = self
                .client
                .list_tables()
                .set_exclusive_start_table_name(start.take())
                .send()
                .await
                .map_err(|e| StoreError::new("list tables", e.into_service_error()))?;
            exists |= page.table_names().iter().any(|t| t == &self.table);
            match page.last_evaluated_table_name() {
                Some(last) if !exists => start = Some(last.to_owned()),
                _ => break,
            }
        }
        let stream = StreamSpecification::builder()
            .stream_enabled(true)
            .stream_view_type(StreamViewType::NewAndOldImages)
            .build()
            .map_err(|e| StoreError::new("stream spec", e))?;
        if exists {
            // A data file from before the outbox: give its table the stream.
            if self.stream_arn().await?.is_none() {
                self.client
                    .update_table()
                    .table_name(&self.table)
                    .stream_specification(stream)
                    .send()
                    .await
                    .map_err(|e| StoreError::new("enable stream", e.into_service_error()))?;
            }
            return Ok(());
        }
        let key = |name: &str, kt: KeyType| {
            KeySchemaElement::builder()
                .attribute_name(name)
                .key_type(kt)
                .build()
                .map_err(|e| StoreError::new("table schema", e))
        };
        let attr = |name: &str| {
            AttributeDefinition::builder()
                .attribute_name(name)
                .attribute_type(ScalarAttributeType::S)
                .build()
                .map_err(|e| StoreError::new("table schema", e))
        };
        self.client
            .create_table()
            .table_name(&self.table)
            .billing_mode(BillingMode::PayPerRequest)
            .key_schema(key(PK, KeyType::Hash)?)
            .key_schema(key(SK, KeyType::Range)?)
            .attribute_definitions(attr(PK)?)
            .attribute_definitions(attr(SK)?)
            .stream_specification(stream)
            .send()
            .await
            .map_err(|e| StoreError::new("create table", e.into_service_error()))?;
        let ttl = TimeToLiveSpecification::builder()
            .attribute_name(EXPIRES_AT)
            .enabled(true)
            .build()
            .map_err(|e| StoreError::new("ttl spec", e))?;
        self.client
            .update_time_to_live()
            .table_name(&self.table)
            .time_to_live_specification(ttl)
            .send()
            .await
            .map_err(|e| StoreError::new("enable ttl", e.into_service_error()))?;
        Ok(())
    }

    /// The table's stream, if it has one (the SAM template gives the deployed
    /// table one; [`ensure_table`](Self::ensure_table) the local one).
    pub async fn stream_arn(&self) -> Result<Option<String>, StoreError> {
        let t = self
            .client
            .describe_table()
            .table_name(&self.table)
            .send()
            .await
            .map_err(|e| StoreError::new("describe table", e.into_service_error()))?;
        Ok(t.table()
            .filter(|t| t.stream_specification().is_some_and(|s| s.stream_enabled()))
            .and_then(|t| t.latest_stream_arn())
            .map(str::to_owned))
    }

    /// The raw profile item, for consistency checks in tests.
    pub async fn raw_profile(&self, user: &Username) -> Result<Option<Item>, StoreError> {
        let items = self.user_items(user).await?;
        Ok(items.into_iter().find(
            |i| matches!(i.get(super::schema::SK), Some(Av::S(k)) if k == super::schema::PROFILE),
        ))
    }

    /// The raw method items (`METHOD#<kind>`), for checks in tests.
    pub async fn raw_methods(&self, user: &Username) -> Result<Vec<Item>, StoreError> {
        let items = self.user_items(user).await?;
        Ok(items
            .into_iter()
            .filter(|i| matches!(i.get(super::schema::SK), Some(Av::S(k)) if k.starts_with(super::schema::METHOD_PREFIX)))
            .collect())
    }
}

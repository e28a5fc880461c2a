//! Counters as CloudWatch embedded-metric-format lines on stdout: Lambda ships
//! them to CloudWatch Logs, which turns them into metrics with no API call.

/// Count one `name` event with its dimensions.
pub fn count(name: &str, dimensions: &[(&str, &str)]) {
    let ms = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or(0);
    let mut line = serde_json::json!({
        "_aws": {
            "Timestamp": ms,
            "CloudWatchMetrics": [{
                "Namespace": "sspr",
                "Dimensions": [dimensions.iter().map(|(k, _)| *k).collect::<Vec<_>>()],
                "Metrics": [{"Name": name, "Unit": "Count"}],
            }],
        },
    });
    if let Some(obj) = line.as_object_mut() {
        obj.insert(name.to_owned(), serde_json::json!(1));
        for (k, v) in dimensions {
            obj.insert((*k).to_owned(), serde_json::json!(v));
        }
    }
    println!("{line}");
}

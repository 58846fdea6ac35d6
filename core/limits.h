/*
 * limits.h - every bound in onex, in one place.
 *
 * Each queue, buffer, retry and loop in the runtime has an upper bound, and
 * each bound is named here so it can be read, reviewed and changed at once
 * (ARCHITECTURE_NOTES property 4). Units are in the name: _bytes, _ms, _max.
 */
#ifndef ONEX_LIMITS_H
#define ONEX_LIMITS_H

/* Largest encoded envelope the host accepts or emits (1 MiB). */
#define ONEX_ENVELOPE_BYTES_MAX (1024u * 1024u)

/* Longest string accepted in a routing field (slug, operation, handler type). */
#define ONEX_NAME_BYTES_MAX 128u

/* Contract files: size, YAML nesting depth, list lengths. */
#define ONEX_CONTRACT_BYTES_MAX (4u * 1024u * 1024u)
#define ONEX_CONTRACT_DEPTH_MAX 32u
#define ONEX_CONTRACT_HANDLERS_MAX 16u
#define ONEX_CONTRACT_NODES_MAX 1024u
#define ONEX_CONTRACT_WARNINGS_MAX 64u
#define ONEX_TOPIC_BYTES_MAX 249u /* Kafka's own topic-name limit */
#define ONEX_PATH_BYTES_MAX 4096u

/*
 * Nesting the direct JSON writer (json_out.c) follows before it hands the
 * value to jansson's own encoder instead (same bytes, slower).
 */
#define ONEX_JSON_OUT_DEPTH_MAX 256u
/* The host keeps its reply buffer between replies up to this size; a
 * larger one (a big reply) is freed once published. */
#define ONEX_HOST_REPLY_BUFFER_KEEP_BYTES (64u * 1024u)

/* Host: envelopes being handled at once (v0.1 is sequential: 1). */
#define ONEX_HOST_INFLIGHT_DEFAULT 1u
#define ONEX_HOST_INFLIGHT_MAX 10000u
/* Requests whose handler timed out but has not yet called back. */
#define ONEX_HOST_ABANDONED_MAX 1024u
#define ONEX_HANDLER_TIMEOUT_MS_DEFAULT 30000u
/*
 * A unit's own timeout when its `config.timeout_ms` is not set: the host's
 * deadline plus this, so the host's TIMEOUT reply always comes first and
 * the unit's timeout only cleans up (never a race between the two).
 */
#define ONEX_HANDLER_TIMEOUT_CLEANUP_MS 1000u
#define ONEX_SHUTDOWN_GRACE_S_DEFAULT 30u
#define ONEX_SHUTDOWN_GRACE_S_MIN 1u
#define ONEX_SHUTDOWN_GRACE_S_MAX 300u

/* Event loop: timers and watched descriptors alive at once. */
#define ONEX_LOOP_TIMERS_MAX 65536u
#define ONEX_LOOP_FDS_MAX 1024u

/* In-memory bus: queued bytes per bus, history entries kept for tests. */
#define ONEX_INMEMORY_QUEUE_BYTES_MAX (64u * 1024u * 1024u)
#define ONEX_INMEMORY_HISTORY_DEFAULT 1000u
#define ONEX_BUS_SUBSCRIPTIONS_MAX 64u

/* Stdio bus: bytes buffered from stdin beyond the current line. */
#define ONEX_STDIO_READ_CHUNK_BYTES 65536u

/* Error text buffers (no allocation on the error path). */
#define ONEX_ERROR_TEXT_BYTES 1024u
#define ONEX_ERROR_HINT_BYTES 512u
#define ONEX_ERROR_SOURCE_BYTES 512u

/* Bounds of the simulation units and the YAML reader. */
#define ONEX_INMEMORY_TOPICS_MAX 256u
#define ONEX_INMEMORY_HISTORY_MAX 1000000u /* largest accepted history_size */
#define ONEX_FAKE_HTTP_STUBS_MAX 1024u
#define ONEX_FAKE_HTTP_URL_COMPARE_BYTES_MAX 2048u
#define ONEX_FAKE_HTTP_TIMEOUT_MS_MAX 3600000u  /* largest timeout_ms accepted */
#define ONEX_FAKE_HTTP_LATENCY_MS_MAX 86400000u /* largest stub latency_ms */
#define ONEX_SQLITE_ROWS_MAX 10000u		  /* rows in one result */
#define ONEX_SQLITE_TRANSACTION_STATEMENTS_MAX 100u
#define ONEX_SQLITE_VM_STEPS_DEFAULT 100000000u /* per statement ("statement timeout") */
#define ONEX_SQLITE_LATENCY_MS_MAX 3600000u
#define ONEX_SQLITE_RANDOMBLOB_BYTES_MAX (1024u * 1024u)
/* Nodes in one YAML document with every alias expanded (bounds every walk). */
#define ONEX_YAML_EXPANDED_NODES_MAX 100000u

/* The scenario suite runner (onex-sim). */
#define ONEX_SUITE_FILES_MAX 100000u		     /* scenario files in one suite */
#define ONEX_SUITE_WALK_DEPTH_MAX 32u		     /* directory nesting walked */
#define ONEX_SUITE_JOBS_MAX 64u			     /* worker processes at once */
#define ONEX_SUITE_RESULT_BYTES_MAX (512u << 20) /* one child's serialized result */

/* The libcurl HTTP handler (core/real/curl_http.c). */
#define ONEX_CURL_HTTP_TIMEOUT_MS_MAX 3600000u
#define ONEX_CURL_HTTP_REQUEST_BODY_BYTES_DEFAULT (10u * 1024u * 1024u)
#define ONEX_CURL_HTTP_RESPONSE_BODY_BYTES_DEFAULT (50u * 1024u * 1024u)
#define ONEX_CURL_HTTP_BODY_BYTES_MAX (1024u * 1024u * 1024u)
#define ONEX_CURL_HTTP_HEADER_BYTES_MAX (256u * 1024u) /* response headers, total */
#define ONEX_CURL_HTTP_CONNECTIONS_DEFAULT 16u
#define ONEX_CURL_HTTP_CONNECTIONS_MAX 512u /* well below ONEX_LOOP_FDS_MAX */
#define ONEX_CURL_HTTP_REDIRECTS_DEFAULT 20u
#define ONEX_CURL_HTTP_REDIRECTS_MAX 100u
#define ONEX_CURL_HTTP_INFLIGHT_DEFAULT 1024u
#define ONEX_CURL_HTTP_INFLIGHT_MAX ONEX_HOST_INFLIGHT_MAX
#define ONEX_CURL_HTTP_EASY_IDLE_MAX 16u /* idle easy handles kept for reuse */
#define ONEX_CURL_HTTP_URL_REMEMBERED_BYTES 1024u /* last valid URL kept, with its NUL */

/* The libpq db handler (core/real/pg_db.c). */
#define ONEX_PG_POOL_SIZE_DEFAULT 5u
#define ONEX_PG_POOL_SIZE_MAX 64u
#define ONEX_PG_QUEUE_DEFAULT 1024u
#define ONEX_PG_QUEUE_MAX 100000u
#define ONEX_PG_ROWS_MAX 10000u /* rows in one result; equals ONEX_SQLITE_ROWS_MAX */
#define ONEX_PG_TRANSACTION_STATEMENTS_MAX 100u
#define ONEX_PG_STATEMENTS_CACHED_MAX 128u /* prepared statements per connection */
#define ONEX_PG_PARAMS_INLINE 16u /* parameters held inside a request (more: heap) */
#define ONEX_PG_SQL_TEXTS_CACHED 64u /* SQL texts whose checks' findings are kept, per handler */
#define ONEX_PG_SQL_TEXT_CACHED_MAX 4096u /* longest text kept (bytes); longer: scanned each time */
#define ONEX_PG_REQUESTS_SPARE 16u /* freed requests (~3.4 KiB each) kept for reuse, per handler */
#define ONEX_PG_CONNECT_TIMEOUT_MS_DEFAULT 10000u
#define ONEX_PG_RECONNECT_MIN_MS_DEFAULT 100u
#define ONEX_PG_RECONNECT_MAX_MS_DEFAULT 5000u
#define ONEX_PG_CONFIG_MS_MAX 3600000u /* largest *_ms accepted in config */

/* The Kafka bus (core/real/kafka_bus.c). */
#define ONEX_KAFKA_INFLIGHT_DEFAULT 100u	  /* max_inflight_envelopes */
#define ONEX_KAFKA_PAUSE_THRESHOLD_DEFAULT 80u	  /* pause_consumption_threshold */
#define ONEX_KAFKA_CIRCUIT_THRESHOLD_DEFAULT 5u	  /* circuit_breaker_threshold */
#define ONEX_KAFKA_CIRCUIT_OPEN_MS 30000u	  /* open, before half-open */
#define ONEX_KAFKA_HOUSEKEEPING_MS 100u		  /* periodic poll of both handles */
#define ONEX_KAFKA_COMMIT_INTERVAL_MS 50u	  /* acks are committed in batches */
#define ONEX_KAFKA_COMMIT_RETRY_MS 1000u	  /* after a failed commit */
#define ONEX_KAFKA_EVENTS_PER_TURN_MAX 256u	  /* then yield to the loop */
#define ONEX_KAFKA_PARTITIONS_MAX 4096u		  /* partitions of the input topic */
#define ONEX_KAFKA_PRODUCER_QUEUE_KBYTES 65536u	  /* queue.buffering.max.kbytes */
#define ONEX_KAFKA_PRODUCER_QUEUE_MESSAGES 100000u /* queue.buffering.max.messages */
#define ONEX_KAFKA_FETCH_QUEUE_KBYTES 16384u	  /* queued.max.messages.kbytes, per partition */
#define ONEX_KAFKA_FETCH_QUEUE_MESSAGES 20000u	  /* queued.min.messages, per partition */
#define ONEX_KAFKA_FETCH_PARTITION_BYTES 262144u  /* fetch.message.max.bytes */
#define ONEX_KAFKA_MESSAGE_BYTES_MAX (ONEX_ENVELOPE_BYTES_MAX + 65536u)
#define ONEX_KAFKA_DLQ_VALUE_BYTES_MAX ONEX_ENVELOPE_BYTES_MAX /* longer: truncated */
#define ONEX_KAFKA_DLQ_RETRY_MS_MIN 1000u
#define ONEX_KAFKA_DLQ_RETRY_MS_MAX 30000u
#define ONEX_KAFKA_STATS_INTERVAL_MS 1000u	  /* broker states for health */
#define ONEX_KAFKA_CONNECT_GRACE_MS 2000u	  /* no connection up by then: degraded */
#define ONEX_KAFKA_CLOSE_WAIT_MS 5000u		  /* free(): leave the group */
#define ONEX_KAFKA_FLUSH_WAIT_MS 5000u		  /* free(): deliver queued replies */
#define ONEX_KAFKA_LINGER_MS 1u			  /* linger.ms: replies are latency-bound */
#define ONEX_KAFKA_RECONNECT_BACKOFF_MAX_MS 2000u /* librdkafka's 10 s is slow to recover */
#define ONEX_KAFKA_RELEASE_BACKOFF_MS_MIN 1000u	  /* a released message comes again */
#define ONEX_KAFKA_RELEASE_BACKOFF_MS_MAX 30000u
#define ONEX_KAFKA_STALLED_MS 120000u		  /* oldest in flight: health degraded */
#define ONEX_KAFKA_JSON_CHECK_DEPTH_MAX 32u	  /* quick check; deeper: full parse decides */
#define ONEX_KAFKA_JSON_CHECK_KEYS_MAX 32u	  /* keys per object the quick check tracks */

#endif

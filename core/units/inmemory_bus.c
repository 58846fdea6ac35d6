/*
 * inmemory_bus.c - per-topic FIFO queues driven by the loop port.
 *
 * Each topic holds a ring of queued messages numbered 1, 2, ... (seq).
 * Each subscriber has a cursor (the next seq it gets) and at most one
 * "pump" timer: when it fires, the pump delivers the message under the
 * cursor and re-arms itself. One delivery per loop event keeps deliveries
 * interleaved fairly with everything else on the loop, keeps FIFO order
 * whatever the per-message delays, and bounds the bus's timers to one per
 * subscriber (plus one per publish awaiting its `done`).
 *
 * A message's bytes live in a refcounted blob shared by the queue and the
 * history, so the history costs no second copy.
 */
#include "inmemory_bus.h"

#include <stdlib.h>
#include <string.h>

#include "contract.h"
#include "log.h"
#include "loop.h"

#define UNIT "inmemory"
#define SUBS_PER_TOPIC_MAX 64u /* one bit each in a message's `waiting` mask */
#define SEQ_BITS 40
#define SEQ_MAX ((UINT64_C(1) << SEQ_BITS) - 1)

struct blob {
	unsigned refs;
	size_t len;
	char data[];
};

struct qmsg {
	struct blob *blob; /* NULL once every subscriber acked */
	uint64_t waiting;  /* subscriber bits that still have to ack */
	uint64_t ready_ns; /* not deliverable before (delivery-delay fault) */
	size_t len_original;
};

struct inmem_bus;
struct topic;

struct sub {
	struct inmem_bus *bus;
	struct topic *topic;
	unsigned index; /* bit in qmsg.waiting */
	onex_bus_deliver_cb deliver;
	onex_bus_closed_cb closed;
	void *arg;
	uint64_t next_seq;
	uint64_t timer_id;
	int armed, closed_sent;
};

struct topic {
	char name[ONEX_TOPIC_BYTES_MAX + 1];
	size_t name_len;
	unsigned index; /* in bus->topics, for tokens */
	struct qmsg *ring;
	size_t cap, head, count;
	uint64_t head_seq; /* seq of ring[head] */
	struct sub *subs[SUBS_PER_TOPIC_MAX];
	unsigned nsubs;
	uint64_t sub_mask;
	uint64_t delay_ns;
	uint64_t published, delivered;
	int closed;
};

struct hist {
	const struct topic *topic;
	struct blob *blob;
};

struct pub_done {
	struct inmem_bus *bus;
	onex_bus_published_cb cb;
	void *arg;
	uint64_t timer_id;
	struct pub_done *prev, *next;
};

struct inmem_bus {
	struct onex_bus base; /* first: the bus port */
	struct onex_bus_env env;
	struct topic *topics[ONEX_INMEMORY_TOPICS_MAX];
	unsigned ntopics, nsubs;
	struct hist *hist;
	size_t hist_size, hist_alloc, hist_len, hist_start;
	size_t queue_bytes_max, queued_bytes, queued_count;
	uint64_t published, delivered, acked, refused;
	struct pub_done *dones;
	int consuming, paused, shut;
};

static const struct onex_bus_ops inmem_ops;

static struct inmem_bus *bus_self(const struct onex_bus *base)
{
	if (!onex_inmemory_bus_is(base))
		ONEX_BUG("not an in-memory bus");
	return (struct inmem_bus *)base;
}

static void blob_unref(struct blob *b)
{
	if (b && --b->refs == 0)
		free(b);
}

static struct qmsg *topic_msg(struct topic *t, uint64_t seq)
{
	if (seq < t->head_seq || seq - t->head_seq >= t->count)
		return NULL;
	return &t->ring[(t->head + (size_t)(seq - t->head_seq)) % t->cap];
}

static uint64_t topic_next_seq(const struct topic *t)
{
	return t->head_seq + t->count;
}

/* ---- topics ---------------------------------------------------------------- */

static struct topic *topic_find(struct inmem_bus *bus, const char *name)
{
	for (unsigned i = 0; i < bus->ntopics; i++)
		if (strcmp(bus->topics[i]->name, name) == 0)
			return bus->topics[i];
	return NULL;
}

static struct topic *topic_get(struct inmem_bus *bus, const char *name,
			       struct onex_error *err)
{
	struct topic *t;
	size_t n = name ? strlen(name) : 0;
	if (n == 0 || n > ONEX_TOPIC_BYTES_MAX) {
		onex_error_set(err, ONEX_ERR_EVENT_BUS_ERROR, UNIT, 0, 0,
			       "topic name must be 1 to %u bytes", ONEX_TOPIC_BYTES_MAX);
		return NULL;
	}
	if ((t = topic_find(bus, name)))
		return t;
	if (bus->ntopics >= ONEX_INMEMORY_TOPICS_MAX) {
		onex_error_set(err, ONEX_ERR_EVENT_BUS_ERROR, UNIT, 0, 0,
			       "too many topics (%u, ONEX_INMEMORY_TOPICS_MAX)",
			       ONEX_INMEMORY_TOPICS_MAX);
		return NULL;
	}
	if (!(t = calloc(1, sizeof(*t)))) {
		onex_error_set(err, ONEX_ERR_EVENT_BUS_ERROR, UNIT, 0, 0, "out of memory");
		return NULL;
	}
	memcpy(t->name, name, n + 1);
	t->name_len = n;
	t->index = bus->ntopics;
	t->head_seq = 1;
	bus->topics[bus->ntopics++] = t;
	return t;
}

static int ring_reserve(struct topic *t)
{
	size_t cap;
	struct qmsg *ring;
	if (t->count < t->cap)
		return 0;
	cap = t->cap ? t->cap * 2 : 16;
	if (!(ring = malloc(cap * sizeof(*ring))))
		return -1;
	for (size_t i = 0; i < t->count; i++)
		ring[i] = t->ring[(t->head + i) % t->cap];
	free(t->ring);
	t->ring = ring;
	t->cap = cap;
	t->head = 0;
	return 0;
}

/* Drop fully acked messages from the front, giving back their overhead. */
static void topic_reclaim(struct inmem_bus *bus, struct topic *t)
{
	while (t->count && !t->ring[t->head].blob) {
		t->head = (t->head + 1) % t->cap;
		t->count--;
		t->head_seq++;
		bus->queued_bytes -= ONEX_INMEMORY_MESSAGE_OVERHEAD_BYTES;
	}
}

/* ---- delivery pump ----------------------------------------------------------- */

static int deliverable(const struct inmem_bus *bus)
{
	return bus->consuming && !bus->paused && !bus->shut;
}

static void pump_fire(void *arg);

/* True when the pump has something to do for this subscriber. */
static int sub_has_work(const struct sub *s)
{
	return s->next_seq < topic_next_seq(s->topic) ||
	       (s->topic->closed && !s->closed_sent);
}

static int pump_arm(struct sub *s, struct onex_error *err)
{
	struct inmem_bus *bus = s->bus;
	uint64_t now, delay = 0;
	struct qmsg *m;
	if (s->armed || !deliverable(bus) || !sub_has_work(s))
		return 0;
	now = onex_loop_now_ns(bus->env.loop);
	m = topic_msg(s->topic, s->next_seq);
	if (m && m->ready_ns > now)
		delay = m->ready_ns - now;
	if (onex_loop_timer_add(bus->env.loop, delay, pump_fire, s, &s->timer_id, err) < 0)
		return -1;
	s->armed = 1;
	return 0;
}

/* Re-arm from the loop; a failure (loop full) is reported, not swallowed. */
static void pump_rearm(struct sub *s)
{
	struct onex_error err;
	onex_error_clear(&err);
	if (pump_arm(s, &err) < 0)
		onex_log(s->bus->env.log, ONEX_LOG_ERROR, NULL, NULL,
			 "inmemory bus: deliveries on %s stalled: %s", s->topic->name,
			 err.text);
}

static void pump_disarm(struct sub *s)
{
	if (s->armed)
		onex_loop_timer_cancel(s->bus->env.loop, s->timer_id);
	s->armed = 0;
}

static void for_each_sub(struct inmem_bus *bus, int arm)
{
	for (unsigned i = 0; i < bus->ntopics; i++)
		for (unsigned j = 0; j < bus->topics[i]->nsubs; j++) {
			if (arm)
				pump_rearm(bus->topics[i]->subs[j]);
			else
				pump_disarm(bus->topics[i]->subs[j]);
		}
}

/* "inmemory <topic> #<seq>" into out (ONEX_TOPIC_BYTES_MAX + 40 bytes), by hand:
 * snprintf was a measurable part of every delivery. */
static void format_position(char *out, const struct topic *t, uint64_t seq)
{
	char digits[24], *d = digits + sizeof(digits);
	memcpy(out, "inmemory ", 9);
	memcpy(out + 9, t->name, t->name_len);
	out += 9 + t->name_len;
	*out++ = ' ';
	*out++ = '#';
	do {
		*--d = (char)('0' + seq % 10);
		seq /= 10;
	} while (seq);
	size_t n = (size_t)(digits + sizeof(digits) - d);
	memcpy(out, d, n);
	out[n] = '\0';
}

static void deliver_one(struct sub *s, struct qmsg *m, uint64_t seq)
{
	struct inmem_bus *bus = s->bus;
	char position[ONEX_TOPIC_BYTES_MAX + 40];
	struct onex_bus_message msg = {
		.topic = s->topic->name,
		.data = m->blob->data,
		.len = m->blob->len,
		.len_original = m->len_original,
		.position = position,
		.token = ((uint64_t)(s->topic->index + 1) << 48) |
			 ((uint64_t)s->index << SEQ_BITS) | seq,
	};
	struct blob *b = m->blob;
	format_position(position, s->topic, seq);
	bus->delivered++;
	s->topic->delivered++;
	/* The callback may ack (freeing the queue's reference) and still read. */
	b->refs++;
	s->deliver(s->arg, &msg);
	blob_unref(b);
}

static void pump_fire(void *arg)
{
	struct sub *s = arg;
	struct qmsg *m;
	s->armed = 0;
	if (!deliverable(s->bus))
		return;
	m = topic_msg(s->topic, s->next_seq);
	if (m) {
		if (m->ready_ns > onex_loop_now_ns(s->bus->env.loop)) {
			pump_rearm(s);
			return;
		}
		s->next_seq++;
		if (m->waiting & (UINT64_C(1) << s->index))
			deliver_one(s, m, s->next_seq - 1);
	} else if (s->next_seq >= topic_next_seq(s->topic) && s->topic->closed &&
		   !s->closed_sent) {
		s->closed_sent = 1;
		if (s->closed)
			s->closed(s->arg);
		return;
	}
	pump_rearm(s);
}

/* ---- port operations ---------------------------------------------------------- */

static int inmem_subscribe(struct onex_bus *base, const char *topic,
			   onex_bus_deliver_cb deliver, onex_bus_closed_cb closed,
			   void *arg, struct onex_error *err)
{
	struct inmem_bus *bus = bus_self(base);
	struct topic *t;
	struct sub *s;
	if (bus->shut)
		return onex_error_set(err, ONEX_ERR_EVENT_BUS_ERROR, UNIT, 0, 0,
				      "bus is shut down");
	if (!deliver)
		ONEX_BUG("subscribe without a deliver callback");
	if (bus->nsubs >= ONEX_BUS_SUBSCRIPTIONS_MAX)
		return onex_error_set(err, ONEX_ERR_EVENT_BUS_ERROR, UNIT, 0, 0,
				      "too many subscriptions (%u, ONEX_BUS_SUBSCRIPTIONS_MAX)",
				      ONEX_BUS_SUBSCRIPTIONS_MAX);
	if (!(t = topic_get(bus, topic, err)))
		return -1;
	if (t->nsubs >= SUBS_PER_TOPIC_MAX)
		return onex_error_set(err, ONEX_ERR_EVENT_BUS_ERROR, UNIT, 0, 0,
				      "too many subscribers on topic %s", t->name);
	if (!(s = calloc(1, sizeof(*s))))
		return onex_error_set(err, ONEX_ERR_EVENT_BUS_ERROR, UNIT, 0, 0,
				      "out of memory");
	*s = (struct sub){ .bus = bus, .topic = t, .index = t->nsubs,
			   .deliver = deliver, .closed = closed, .arg = arg,
			   .next_seq = topic_next_seq(t) };
	if (t->nsubs == 0) {
		/* The first subscriber takes what waited for one. */
		s->next_seq = t->head_seq;
		for (size_t i = 0; i < t->count; i++) {
			struct qmsg *m = &t->ring[(t->head + i) % t->cap];
			if (m->blob)
				m->waiting |= UINT64_C(1) << s->index;
		}
	}
	t->subs[t->nsubs++] = s;
	t->sub_mask |= UINT64_C(1) << s->index;
	bus->nsubs++;
	pump_rearm(s);
	return 0;
}

static int inmem_start_consuming(struct onex_bus *base, struct onex_error *err)
{
	struct inmem_bus *bus = bus_self(base);
	if (bus->shut)
		return onex_error_set(err, ONEX_ERR_EVENT_BUS_ERROR, UNIT, 0, 0,
				      "bus is shut down");
	bus->consuming = 1;
	for_each_sub(bus, 1);
	return 0;
}

static void publish_done_fire(void *arg)
{
	struct pub_done *d = arg;
	struct inmem_bus *bus = d->bus;
	if (d->prev)
		d->prev->next = d->next;
	else
		bus->dones = d->next;
	if (d->next)
		d->next->prev = d->prev;
	d->cb(d->arg, 0, NULL);
	free(d);
}

static int publish_refuse(struct inmem_bus *bus)
{
	bus->refused++;
	return -1;
}

/* Queue one copy of the bytes on `t`; the message is the ring's new tail. */
static int enqueue(struct inmem_bus *bus, struct topic *t, const char *data,
		   size_t len, struct onex_error *err)
{
	size_t kept = len > ONEX_ENVELOPE_BYTES_MAX ? ONEX_ENVELOPE_BYTES_MAX : len;
	size_t charge = kept + ONEX_INMEMORY_MESSAGE_OVERHEAD_BYTES;
	uint64_t now = onex_loop_now_ns(bus->env.loop);
	uint64_t ready_ns = t->delay_ns > UINT64_MAX - now ? UINT64_MAX : now + t->delay_ns;
	struct blob *b;
	if (charge > bus->queue_bytes_max - bus->queued_bytes ||
	    bus->queued_bytes > bus->queue_bytes_max)
		return onex_error_set(err, ONEX_ERR_EVENT_BUS_ERROR, UNIT, 0, 0,
				      "queue full: %zu of %zu bytes queued, message of %zu bytes "
				      "to %s refused",
				      bus->queued_bytes, bus->queue_bytes_max, kept, t->name);
	if (topic_next_seq(t) > SEQ_MAX)
		return onex_error_set(err, ONEX_ERR_EVENT_BUS_ERROR, UNIT, 0, 0,
				      "topic %s has had 2^40 messages", t->name);
	if (ring_reserve(t) < 0 || !(b = malloc(sizeof(*b) + kept + 1)))
		return onex_error_set(err, ONEX_ERR_EVENT_BUS_ERROR, UNIT, 0, 0,
				      "out of memory");
	b->refs = 1;
	b->len = kept;
	if (kept)
		memcpy(b->data, data, kept);
	b->data[kept] = '\0'; /* convenience for readers; len is authoritative */
	t->ring[(t->head + t->count) % t->cap] = (struct qmsg){
		.blob = b, .waiting = t->sub_mask, .len_original = len,
		.ready_ns = ready_ns,
	};
	t->count++;
	bus->queued_bytes += charge;
	bus->queued_count++;
	return 0;
}

/* Undo enqueue() of the tail message (nothing saw it yet). */
static void dequeue_tail(struct inmem_bus *bus, struct topic *t)
{
	struct qmsg *m = &t->ring[(t->head + t->count - 1) % t->cap];
	bus->queued_bytes -= m->blob->len + ONEX_INMEMORY_MESSAGE_OVERHEAD_BYTES;
	bus->queued_count--;
	blob_unref(m->blob);
	t->count--;
}

static void history_add(struct inmem_bus *bus, const struct topic *t, struct blob *b)
{
	struct hist *slot;
	if (bus->hist_size == 0)
		return;
	if (bus->hist_len < bus->hist_size) {
		if (bus->hist_len == bus->hist_alloc) {
			size_t n = bus->hist_alloc ? bus->hist_alloc * 2 : 64;
			struct hist *h;
			if (n > bus->hist_size)
				n = bus->hist_size;
			if (!(h = realloc(bus->hist, n * sizeof(*h))))
				return; /* history is best effort; the queue is not */
			bus->hist = h;
			bus->hist_alloc = n;
		}
		slot = &bus->hist[bus->hist_len++];
	} else {
		slot = &bus->hist[bus->hist_start];
		bus->hist_start = (bus->hist_start + 1) % bus->hist_size;
		blob_unref(slot->blob);
	}
	slot->topic = t;
	slot->blob = b;
	b->refs++;
}

static int inmem_publish(struct onex_bus *base, const char *topic, const char *key,
			 const char *data, size_t len, onex_bus_published_cb done,
			 void *done_arg, struct onex_error *err)
{
	struct inmem_bus *bus = bus_self(base);
	struct pub_done *d = NULL;
	int done_armed = 0;
	struct topic *t;
	(void)key; /* one partition per topic: the key does not change ordering */
	if (bus->shut) {
		onex_error_set(err, ONEX_ERR_EVENT_BUS_ERROR, UNIT, 0, 0, "bus is shut down");
		return publish_refuse(bus);
	}
	if (!(t = topic_get(bus, topic, err)))
		return publish_refuse(bus);
	if (t->closed) {
		onex_error_set(err, ONEX_ERR_EVENT_BUS_ERROR, UNIT, 0, 0,
			       "topic %s is closed", t->name);
		return publish_refuse(bus);
	}
	if (enqueue(bus, t, data, len, err) < 0)
		return publish_refuse(bus);
	if (done) {
		if (!(d = calloc(1, sizeof(*d)))) {
			onex_error_set(err, ONEX_ERR_EVENT_BUS_ERROR, UNIT, 0, 0, "out of memory");
			goto undo;
		}
		*d = (struct pub_done){ .bus = bus, .cb = done, .arg = done_arg };
		if (onex_loop_timer_add(bus->env.loop, 0, publish_done_fire, d,
					&d->timer_id, err) < 0)
			goto undo;
		done_armed = 1;
	}
	for (unsigned i = 0; i < t->nsubs; i++)
		if (pump_arm(t->subs[i], err) < 0)
			goto undo; /* pumps armed already find nothing: harmless */
	if (d) {
		d->next = bus->dones;
		if (d->next)
			d->next->prev = d;
		bus->dones = d;
	}
	history_add(bus, t, t->ring[(t->head + t->count - 1) % t->cap].blob);
	t->published++;
	bus->published++;
	return 0;
undo:
	if (done_armed)
		onex_loop_timer_cancel(bus->env.loop, d->timer_id);
	free(d);
	dequeue_tail(bus, t);
	return publish_refuse(bus);
}

static void inmem_ack(struct onex_bus *base, uint64_t token)
{
	struct inmem_bus *bus = bus_self(base);
	uint64_t tidx = token >> 48, seq = token & SEQ_MAX;
	unsigned sidx = (unsigned)((token >> SEQ_BITS) & 0xff);
	struct topic *t;
	struct qmsg *m;
	uint64_t bit;
	/* Unknown or repeated tokens are ignored: ack is idempotent. */
	if (tidx == 0 || tidx > bus->ntopics || sidx >= SUBS_PER_TOPIC_MAX)
		return;
	t = bus->topics[tidx - 1];
	if (sidx >= t->nsubs || seq >= t->subs[sidx]->next_seq ||
	    !(m = topic_msg(t, seq)))
		return;
	bit = UINT64_C(1) << sidx;
	if (!m->blob || !(m->waiting & bit))
		return;
	m->waiting &= ~bit;
	bus->acked++;
	if (m->waiting == 0) {
		bus->queued_bytes -= m->blob->len;
		bus->queued_count--;
		blob_unref(m->blob);
		m->blob = NULL;
		topic_reclaim(bus, t);
	}
}

static void inmem_pause(struct onex_bus *base)
{
	struct inmem_bus *bus = bus_self(base);
	bus->paused = 1;
	for_each_sub(bus, 0);
}

static void inmem_resume(struct onex_bus *base)
{
	struct inmem_bus *bus = bus_self(base);
	bus->paused = 0;
	for_each_sub(bus, 1);
}

static json_t *inmem_health(struct onex_bus *base)
{
	struct inmem_bus *bus = bus_self(base);
	return json_pack("{s:b,s:s,s:b,s:b,s:I,s:I,s:I,s:I,s:I,s:I,s:I}",
			 "healthy", !bus->shut, "kind", UNIT,
			 "is_consuming", bus->consuming && !bus->shut,
			 "paused", bus->paused,
			 "queued", (json_int_t)bus->queued_count,
			 "queued_bytes", (json_int_t)bus->queued_bytes,
			 "queue_bytes_max", (json_int_t)bus->queue_bytes_max,
			 "published", (json_int_t)bus->published,
			 "delivered", (json_int_t)bus->delivered,
			 "acked", (json_int_t)bus->acked,
			 "refused", (json_int_t)bus->refused);
}

static json_t *topic_describe(const struct topic *t)
{
	size_t queued = 0;
	for (size_t i = 0; i < t->count; i++)
		queued += t->ring[(t->head + i) % t->cap].blob != NULL;
	return json_pack("{s:s,s:i,s:I,s:I,s:I,s:I,s:b}", "name", t->name,
			 "subscribers", (int)t->nsubs, "queued", (json_int_t)queued,
			 "published", (json_int_t)t->published,
			 "delivered", (json_int_t)t->delivered,
			 "delivery_delay_ns", (json_int_t)t->delay_ns,
			 "closed", t->closed);
}

static json_t *inmem_describe(struct onex_bus *base)
{
	struct inmem_bus *bus = bus_self(base);
	json_t *topics = json_array();
	/* Creation order: deterministic, independent of addresses. */
	for (unsigned i = 0; i < bus->ntopics; i++)
		json_array_append_new(topics, topic_describe(bus->topics[i]));
	return json_pack("{s:s,s:I,s:I,s:I,s:I,s:I,s:I,s:I,s:o}", "kind", UNIT,
			 "history_size", (json_int_t)bus->hist_size,
			 "history_count", (json_int_t)bus->hist_len,
			 "queue_bytes_max", (json_int_t)bus->queue_bytes_max,
			 "queued", (json_int_t)bus->queued_count,
			 "queued_bytes", (json_int_t)bus->queued_bytes,
			 "published", (json_int_t)bus->published,
			 "delivered", (json_int_t)bus->delivered, "topics", topics);
}

static void inmem_shutdown(struct onex_bus *base)
{
	struct inmem_bus *bus = bus_self(base);
	/* Pending publish confirmations still fire: those publishes completed. */
	bus->shut = 1;
	for_each_sub(bus, 0);
}

static void inmem_free(struct onex_bus *base)
{
	struct inmem_bus *bus = bus_self(base);
	for_each_sub(bus, 0);
	while (bus->dones) {
		struct pub_done *d = bus->dones;
		bus->dones = d->next;
		onex_loop_timer_cancel(bus->env.loop, d->timer_id);
		free(d);
	}
	for (unsigned i = 0; i < bus->ntopics; i++) {
		struct topic *t = bus->topics[i];
		for (size_t j = 0; j < t->count; j++)
			blob_unref(t->ring[(t->head + j) % t->cap].blob);
		for (unsigned j = 0; j < t->nsubs; j++)
			free(t->subs[j]);
		free(t->ring);
		free(t);
	}
	for (size_t i = 0; i < bus->hist_len; i++)
		blob_unref(bus->hist[i].blob);
	free(bus->hist);
	free(bus);
}

static const struct onex_bus_ops inmem_ops = {
	.kind = UNIT,
	.subscribe = inmem_subscribe,
	.start_consuming = inmem_start_consuming,
	.publish = inmem_publish,
	.ack = inmem_ack,
	.pause = inmem_pause,
	.resume = inmem_resume,
	.health_check = inmem_health,
	.describe = inmem_describe,
	.shutdown = inmem_shutdown,
	.free = inmem_free,
};

/* ---- creation and extra API ----------------------------------------------------- */

static int config_size(const struct onex_contract_bus *config, const char *key,
		       size_t min, size_t max, size_t *out, struct onex_error *err)
{
	const json_t *v = json_object_get(config->config, key);
	json_int_t n;
	if (!v)
		return 0;
	n = json_is_integer(v) ? json_integer_value(v) : -1;
	if (!json_is_integer(v) || n < (json_int_t)min || (uint64_t)n > max) {
		onex_error_set(err, ONEX_ERR_CONTRACT_VALIDATION_ERROR, "event_bus.config",
			       config->line, config->column,
			       "event_bus.config.%s must be an integer from %zu to %zu", key,
			       min, max);
		return -1;
	}
	*out = (size_t)n;
	return 0;
}

static int read_config(struct inmem_bus *bus, const struct onex_contract_bus *config,
		       struct onex_error *err)
{
	if (!config)
		return 0;
	if (config->kind[0] && strcmp(config->kind, UNIT) != 0)
		return onex_error_set(err, ONEX_ERR_CONTRACT_VALIDATION_ERROR, "event_bus",
				      config->line, config->column,
				      "bus kind '%s' given to the in-memory bus unit",
				      config->kind);
	if (!config->config)
		return 0;
	if (!json_is_object(config->config))
		return onex_error_set(err, ONEX_ERR_CONTRACT_VALIDATION_ERROR, "event_bus",
				      config->line, config->column,
				      "event_bus.config must be a mapping");
	if (config_size(config, "history_size", 0, ONEX_INMEMORY_HISTORY_MAX,
			&bus->hist_size, err) < 0 ||
	    config_size(config, "queue_bytes_max", 1, ONEX_INMEMORY_QUEUE_BYTES_MAX,
			&bus->queue_bytes_max, err) < 0)
		return -1;
	return 0;
}

struct onex_bus *onex_inmemory_bus_new(const struct onex_bus_env *env,
				       const struct onex_contract_bus *config,
				       struct onex_error *err)
{
	struct inmem_bus *bus;
	if (!env || !env->loop)
		ONEX_BUG("the in-memory bus needs a loop");
	if (!(bus = calloc(1, sizeof(*bus)))) {
		onex_error_set(err, ONEX_ERR_EVENT_BUS_ERROR, UNIT, 0, 0, "out of memory");
		return NULL;
	}
	bus->base.ops = &inmem_ops;
	bus->env = *env;
	bus->hist_size = ONEX_INMEMORY_HISTORY_DEFAULT;
	bus->queue_bytes_max = ONEX_INMEMORY_QUEUE_BYTES_MAX;
	if (read_config(bus, config, err) < 0) {
		free(bus);
		return NULL;
	}
	return &bus->base;
}

const struct onex_bus_unit onex_inmemory_bus_unit = {
	.kind = UNIT,
	.create = onex_inmemory_bus_new,
};

int onex_inmemory_bus_is(const struct onex_bus *bus)
{
	return bus && bus->ops == &inmem_ops;
}

size_t onex_inmemory_bus_history_count(const struct onex_bus *base)
{
	return bus_self(base)->hist_len;
}

int onex_inmemory_bus_history_get(const struct onex_bus *base, size_t i,
				  const char **topic, const char **data, size_t *len)
{
	const struct inmem_bus *bus = bus_self(base);
	const struct hist *h;
	if (i >= bus->hist_len)
		return -1;
	h = &bus->hist[(bus->hist_start + i) % bus->hist_len];
	if (topic)
		*topic = h->topic->name;
	if (data)
		*data = h->blob->data;
	if (len)
		*len = h->blob->len;
	return 0;
}

int onex_inmemory_bus_set_delivery_delay(struct onex_bus *base, const char *topic,
					 uint64_t delay_ns, struct onex_error *err)
{
	struct topic *t = topic_get(bus_self(base), topic, err);
	if (!t)
		return -1;
	t->delay_ns = delay_ns;
	return 0;
}

int onex_inmemory_bus_close_topic(struct onex_bus *base, const char *topic,
				  struct onex_error *err)
{
	struct topic *t = topic_get(bus_self(base), topic, err);
	if (!t)
		return -1;
	t->closed = 1;
	for (unsigned i = 0; i < t->nsubs; i++)
		pump_rearm(t->subs[i]);
	return 0;
}

size_t onex_inmemory_bus_queued_count(const struct onex_bus *base)
{
	return bus_self(base)->queued_count;
}

size_t onex_inmemory_bus_queued_bytes(const struct onex_bus *base)
{
	return bus_self(base)->queued_bytes;
}

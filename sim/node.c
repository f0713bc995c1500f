/* tsc — one simulated node: its engine's life cycle (start, crash, restart,
 * leave), the events the driver feeds it, and what happens to its output.
 *
 * This file plays the part agent/ plays for a real node: it owns the
 * identity, passes `now`, turns the engine's sealed outputs into messages on
 * the (simulated) network, and arms the engine's next deadline. */
#include <stdio.h>
#include <string.h>

#include "common/time.h"
#include "sim/coord.h"
#include "sim/runs.h"
#include "sim/stats.h"
#include "sim/world.h"
#include "wire/record.h"

static void fatal(struct tsc_sim_world *w, int rc, const char *what, uint32_t i, const char *msg)
{
    if (w->err)
        return;
    w->err = rc;
    tsc_errmsg_setf(w->errmsg, "%s node %u: %s", what, i, msg ? msg : tsc_strerror(rc));
}

static int schedule_tick(struct tsc_sim_world *w, struct tsc_sim_node *nd, uint32_t i)
{
    if (nd->deadline >= nd->tick_at)
        return 0; /* the pending TICK comes first and will re-arm */
    nd->tick_at = nd->deadline;
    return tsc_sim_world_schedule(w, nd->deadline, TSC_SIM_EV_TICK, i, 0, 0);
}

/* Encode node i's meta: a role, a label, and a readiness value that
 * SET_META bumps (a node announcing "my component became ready"). */
static int encode_meta(struct tsc_sim_world *w, uint32_t i, char *errmsg)
{
    struct tsc_meta m;
    memset(&m, 0, sizeof(m));
    m.n_roles = 1;
    snprintf(m.roles[0], sizeof(m.roles[0]), "sim");
    m.n_labels = 1;
    snprintf(m.labels[0].key, sizeof(m.labels[0].key), "node");
    snprintf(m.labels[0].val, sizeof(m.labels[0].val), "n%u", i);
    m.n_ready = 1;
    snprintf(m.ready[0].key, sizeof(m.ready[0].key), "agent");
    snprintf(m.ready[0].val, sizeof(m.ready[0].val), "v%u", w->nodes[i].meta_version);
    tsc__sim_coord_meta(w, i, &m); /* role voter, coordinator labels */
    tsc_buf_reset(&w->meta);
    return tsc_meta_encode(&m, &w->meta, errmsg);
}

int tsc_sim_node_start(struct tsc_sim_world *w, uint32_t i)
{
    struct tsc_sim_node *nd = &w->nodes[i];
    if (nd->state == TSC_SIM_NODE_UP)
        return 0;
    char em[TSC_ERRMSG_SIZE] = "";
    int rc = encode_meta(w, i, em);
    if (rc) {
        fatal(w, rc, "meta for", i, em);
        return rc;
    }
    /* A restarted node comes back above every incarnation it ever used, and
     * with envelope sequence numbers above any it sent (it sends far fewer
     * than one frame per virtual microsecond), as the agent does with its
     * stored incarnation and the wall clock. */
    struct tsc_gossip_identity id = {
        .addr = nd->addr,
        .meta = w->meta.data,
        .meta_len = w->meta.len,
        .incarnation = nd->lives ? nd->self_inc + 1 : 1,
        .seq_start = w->now + 1,
    };
    memcpy(id.pk, nd->pk, sizeof(id.pk));
    memcpy(id.sk, nd->sk, sizeof(id.sk));
    struct tsc_gossip_config cfg = w->cfg.gossip;
    cfg.seed =
        tsc_sim_hash_u64(tsc_sim_hash_u64(tsc_sim_hash_u64(w->cfg.seed, 0x656e67), i), nd->lives);
    rc = tsc_gossip_new(&nd->g, &cfg, &w->wire, &id, w->now, em);
    if (rc) {
        nd->g = NULL;
        fatal(w, rc, "start", i, em);
        return rc;
    }
    if (nd->state == TSC_SIM_NODE_NEW)
        w->n_created++;
    nd->state = TSC_SIM_NODE_UP;
    nd->lives++;
    nd->leaving = 0;
    nd->left = 0;
    nd->self_inc = nd->life_inc = id.incarnation;
    nd->bad_seen = 0;
    w->n_up++;
    tsc_sim_net_set_down(&w->net, i, 0);
    w->alive_pairs += nd->n_alive; /* observers that still see it alive count again */
    w->view[(size_t)i * w->n + i] = TSC_SIM_VIEW(id.incarnation, TSC_STATUS_ALIVE);
    tsc_sim_world_note(w, nd->lives > 1 ? "restart" : "start", i, id.incarnation);
    nd->deadline = w->now;
    rc = schedule_tick(w, nd, i);
    /* The runs engines exist before the election can report a commit. */
    if (rc == 0 && w->runs)
        rc = tsc__sim_runs_start(w, i);
    return rc ? rc : tsc__sim_coord_start(w, i);
}

/* A TICK event came due. The engine may have moved its deadline later since
 * the event was armed; then only re-arm. */
int tsc__sim_node_tick(struct tsc_sim_world *w, uint32_t i)
{
    struct tsc_sim_node *nd = &w->nodes[i];
    if (nd->deadline > w->now)
        return schedule_tick(w, nd, i);
    struct tsc_gossip_event ge = {.type = TSC_GOSSIP_EV_TICK, .now = w->now};
    return tsc_sim_node_step(w, i, &ge);
}

uint32_t tsc_sim_pick_up(struct tsc_sim_world *w, uint32_t not_this)
{
    uint32_t others = w->n_up;
    if (not_this < w->n && w->nodes[not_this].state == TSC_SIM_NODE_UP)
        others--;
    if (others == 0)
        return TSC_SIM_NONE;
    /* Rejection sampling is fast when most nodes are up; fall back to an
     * exact pick when few are (early bootstrap, heavy crash schedules). */
    for (int t = 0; t < 32; t++) {
        uint32_t j = (uint32_t)tsc_prng_below(&w->prng, w->n);
        if (j != not_this && w->nodes[j].state == TSC_SIM_NODE_UP)
            return j;
    }
    uint64_t r = tsc_prng_below(&w->prng, others);
    for (uint32_t j = 0; j < w->n; j++) {
        if (j == not_this || w->nodes[j].state != TSC_SIM_NODE_UP)
            continue;
        if (r-- == 0)
            return j;
    }
    return TSC_SIM_NONE;
}

int tsc_sim_node_join(struct tsc_sim_world *w, uint32_t i, uint32_t pref, unsigned k)
{
    struct tsc_sim_node *nd = &w->nodes[i];
    if (nd->state != TSC_SIM_NODE_UP)
        return 0;
    uint32_t t[8];
    unsigned n = 0;
    if (k > 8)
        k = 8;
    if (pref != TSC_SIM_NONE && pref != i && pref < w->n &&
        w->nodes[pref].state == TSC_SIM_NODE_UP && n < k)
        t[n++] = pref;
    for (unsigned tries = 0; n < k && tries < 4 * k; tries++) {
        uint32_t j = tsc_sim_pick_up(w, i);
        if (j == TSC_SIM_NONE)
            break;
        int dup = 0;
        for (unsigned q = 0; q < n; q++)
            dup |= t[q] == j;
        if (!dup)
            t[n++] = j;
    }
    if (n == 0)
        return 0;
    struct tsc_addr addrs[8];
    for (unsigned q = 0; q < n; q++)
        addrs[q] = w->nodes[t[q]].addr;
    tsc_sim_world_note(w, "join", i, ((uint64_t)n << 32) | t[0]);
    struct tsc_gossip_event ev = {
        .type = TSC_GOSSIP_EV_JOIN, .now = w->now, .addrs = addrs, .n_addrs = n};
    return tsc_sim_node_step(w, i, &ev);
}

void tsc_sim_node_crash(struct tsc_sim_world *w, uint32_t i)
{
    struct tsc_sim_node *nd = &w->nodes[i];
    if (nd->state != TSC_SIM_NODE_UP)
        return;
    struct tsc_gossip_member self;
    if (tsc_gossip_member_find(nd->g, nd->id, &self) == 0 && self.incarnation > nd->self_inc)
        nd->self_inc = self.incarnation;
    tsc_gossip_free(nd->g);
    nd->g = NULL;
    nd->state = TSC_SIM_NODE_DOWN;
    nd->leaving = 0;
    nd->tick_at = TSC_TIME_NEVER;
    nd->deadline = TSC_TIME_NEVER;
    w->n_up--;
    tsc_sim_net_set_down(&w->net, i, 1);
    w->alive_pairs -= nd->n_alive;
    tsc_sim_inv_drop_row(w, i);
    tsc_sim_world_note(w, "crash", i, 0);
    tsc__sim_coord_crash(w, i);
    if (w->runs)
        tsc__sim_runs_crash(w, i);
}

int tsc_sim_node_restart(struct tsc_sim_world *w, uint32_t i)
{
    struct tsc_sim_node *nd = &w->nodes[i];
    if (nd->state != TSC_SIM_NODE_DOWN)
        return 0;
    int rc = tsc_sim_node_start(w, i);
    if (rc == 0)
        rc = tsc_sim_node_join(w, i, TSC_SIM_NONE, 3);
    if (rc == 0)
        rc = tsc_sim_world_schedule(w, w->now + TSC_SEC(5), TSC_SIM_EV_REJOIN, i, 0, nd->lives);
    return rc;
}

int tsc_sim_node_leave(struct tsc_sim_world *w, uint32_t i)
{
    struct tsc_sim_node *nd = &w->nodes[i];
    if (nd->state != TSC_SIM_NODE_UP || nd->leaving)
        return 0;
    nd->leaving = 1;
    tsc_sim_world_note(w, "leave", i, 0);
    /* As tscd: the election hands leadership over (if it has it) while the
     * leave is announced. */
    int rc = tsc__sim_coord_leave(w, i);
    struct tsc_gossip_event ev = {.type = TSC_GOSSIP_EV_LEAVE, .now = w->now};
    if (rc == 0)
        rc = tsc_sim_node_step(w, i, &ev);
    /* An agent waits for leave_done but not forever; neither do we. */
    if (rc == 0)
        rc = tsc_sim_world_schedule(w, w->now + TSC_SEC(10), TSC_SIM_EV_LEAVE_END, i, 0, nd->lives);
    return rc;
}

int tsc_sim_node_set_meta(struct tsc_sim_world *w, uint32_t i)
{
    struct tsc_sim_node *nd = &w->nodes[i];
    if (nd->state != TSC_SIM_NODE_UP)
        return 0;
    nd->meta_version++;
    char em[TSC_ERRMSG_SIZE] = "";
    int rc = encode_meta(w, i, em);
    if (rc) {
        fatal(w, rc, "meta for", i, em);
        return rc;
    }
    tsc_sim_world_note(w, "set_meta", i, nd->meta_version);
    struct tsc_gossip_event ev = {
        .type = TSC_GOSSIP_EV_SET_META, .now = w->now, .data = w->meta.data, .len = w->meta.len};
    return tsc_sim_node_step(w, i, &ev);
}

/* Put one engine output on the simulated network. The bytes are copied:
 * the engine's buffer is only valid until its next step. */
int tsc__sim_send(struct tsc_sim_world *w, uint32_t i, const struct tsc_addr *to, int stream,
                  const uint8_t *data, size_t len)
{
    w->sent_msgs++;
    w->sent_bytes += len;
    uint32_t j = tsc_sim_world_index_of(w, to);
    if (j == TSC_SIM_NONE || j == i) {
        w->unroutable++;
        return 0;
    }
    uint64_t delays[2];
    unsigned copies = tsc_sim_net_route(&w->net, i, j, stream, len, delays);
    if (copies == 0)
        return 0;
    uint32_t slot = tsc__sim_msg_new(w, data, len);
    if (slot == TSC_SIM_NONE) {
        fatal(w, TSC_ENOMEM, "message from", i, "out of memory");
        return TSC_ENOMEM;
    }
    w->msgs[slot].refs = copies;
    uint32_t kind = stream ? TSC_SIM_EV_STREAM : TSC_SIM_EV_DATAGRAM;
    for (unsigned c = 0; c < copies; c++) {
        int rc = tsc_sim_world_schedule(w, w->now + delays[c], kind, j, i, slot);
        if (rc)
            return rc;
    }
    return 0;
}

int tsc_sim_node_step(struct tsc_sim_world *w, uint32_t i, struct tsc_gossip_event *ev)
{
    struct tsc_sim_node *nd = &w->nodes[i];
    struct tsc_gossip_update up;
    memset(&up, 0, sizeof(up));
    w->steps++;
    int rc = tsc_gossip_step(nd->g, ev, &up);
    if (rc) {
        tsc_sim_violation(w, TSC_SIM_V_ENGINE_ERROR, "node %u: step (event %d) failed: %s", i,
                          ev->type, tsc_strerror(rc));
        fatal(w, rc, "step", i, NULL);
        return rc;
    }
    for (size_t k = 0; k < up.n_out; k++) {
        const struct tsc_gossip_out *o = &up.out[k];
        rc = tsc__sim_send(w, i, &o->to, o->kind == TSC_GOSSIP_OUT_STREAM, o->data, o->len);
        if (rc)
            return rc;
    }
    for (size_t k = 0; k < up.n_changes; k++)
        tsc_sim_inv_change(w, i, &up.changes[k]);
    tsc_sim_inv_after_step(w, i);
    /* The update is consumed; the election may look at membership now. */
    if (up.n_changes && w->coord) {
        rc = tsc__sim_coord_membership(w, i);
        if (rc)
            return rc;
    }
    if (up.n_changes && w->runs && nd->g) {
        rc = tsc__sim_runs_members(w, i, up.changes, up.n_changes);
        if (rc)
            return rc;
    }
    if (up.leave_done && nd->leaving) {
        rc = tsc_sim_world_schedule(w, w->now, TSC_SIM_EV_LEAVE_END, i, 0, nd->lives);
        if (rc)
            return rc;
    }
    /* A deadline in the past means "now"; one microsecond later keeps an
     * engine that always asks for "now" from stalling virtual time. */
    uint64_t d = up.next_deadline;
    if (d <= w->now)
        d = w->now + 1;
    nd->deadline = d;
    return schedule_tick(w, nd, i);
}

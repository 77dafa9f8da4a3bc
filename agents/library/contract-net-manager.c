/* SPDX-License-Identifier: MIT */
/*
 * ContractNetManager: the manager of one contract-net round.  run([contractor URLs], task)
 * connects to every contractor, calls for proposals (cfp(task), all in flight at once), awards
 * the task to the lowest bid (ties go to the earlier contractor in the list), confirms with
 * accept(task) to the winner and reject(task) to the others, and returns
 * {"task", "winner", "price", "result"}.  The outcome depends only on the contractors' bids,
 * never on the order replies arrive in, so the round ends the same in a simulation and live.
 */
#include "library-private.h"

static CamasValue *
run(CamasAgent *self, const CamasValue *args, GError **error)
{
    CamasValue *urls;
    const char *task;
    if (!camas_value_unpack(args, error, "[v s]", &urls, &task))
        return NULL;
    if (!camas_value_is_sequence(urls) || camas_value_get_length(urls) == 0) {
        g_set_error(error, CAMAS_ERROR, CAMAS_ERROR_TYPE,
                    "run() needs a non-empty list of contractor URLs");
        return NULL;
    }
    gsize n = camas_value_get_length(urls);
    g_autoptr(GPtrArray) proxies =
        g_ptr_array_new_with_free_func((GDestroyNotify)camas_proxy_unref);
    for (gsize i = 0; i < n; i++) {
        const char *url = camas_value_to_str(camas_value_get_item(urls, i), NULL, error);
        if (!url)
            return NULL;
        CamasProxy *p = camas_agent_connect(self, url, error);
        if (!p)
            return NULL;
        g_ptr_array_add(proxies, p);
    }
    camas_agent_log(self, "cfp %s to %" G_GSIZE_FORMAT " contractors", task, n);

    g_autoptr(GPtrArray) calls = g_ptr_array_new_with_free_func((GDestroyNotify)camas_future_unref);
    for (gsize i = 0; i < n; i++)
        g_ptr_array_add(calls,
                        camas_agent_call_async(g_ptr_array_index(proxies, i), "cfp", "[s]", task));
    CamasLoop *loop = camas_container_get_loop(self->container);
    g_autoptr(CamasFuture) all_bids = camas_future_all(loop, (CamasFuture *const *)calls->pdata, n);
    g_autoptr(CamasValue) bids = NULL;
    if (!camas_task_await(all_bids, &bids, error))
        return NULL;

    gsize best = 0;
    double best_price = 0;
    const char *best_label = NULL;
    for (gsize i = 0; i < n; i++) {
        const char *label;
        double price;
        if (!camas_value_unpack(camas_value_get_item(bids, i), error, "[s f]", &label, &price)) {
            g_prefix_error(error, "bid %" G_GSIZE_FORMAT ": ", i);
            return NULL;
        }
        if (!best_label || price < best_price) {
            best = i;
            best_price = price;
            best_label = label;
        }
    }
    camas_agent_log(self, "award %s to %s at %.2f", task, best_label, best_price);

    g_ptr_array_set_size(calls, 0);
    for (gsize i = 0; i < n; i++)
        g_ptr_array_add(calls,
                        camas_agent_call_async(g_ptr_array_index(proxies, i),
                                               i == best ? "accept" : "reject", "[s]", task));
    g_autoptr(CamasFuture) all_done = camas_future_all(loop, (CamasFuture *const *)calls->pdata, n);
    g_autoptr(CamasValue) done = NULL;
    if (!camas_task_await(all_done, &done, error))
        return NULL;
    CamasValue *result = camas_value_get_item(done, best);
    g_autofree char *r = camas_value_repr(result);
    camas_agent_log(self, "confirmed %s: %s", task, r);
    return camas_value_build("{s:s s:s s:f s:v}", "task", task, "winner", best_label, "price",
                             best_price, "result", result);
}

static const CamasParamSpec params[] = {
    {"contractors", CAMAS_PARAM_AGENTS, CAMAS_PARAM_START_ARG, TRUE, NULL,
     "the contractors to call for proposals"},
    {"task", CAMAS_PARAM_STR, CAMAS_PARAM_START_ARG, FALSE, "\"task\"", "the task's name"},
    {NULL},
};

const CamasAgentClass camas__agent_contract_net_manager = {
    .name = "ContractNetManager",
    .run = run,
    .summary = "run([urls], task): one contract-net round (cfp, award the lowest bid, confirm)",
    .params = params,
};

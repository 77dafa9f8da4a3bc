/* SPDX-License-Identifier: MIT */
/*
 * The aiomas "Hello World" agent (docs/clocks.md), written with callbacks: a small state
 * machine whose steps the clock calls.  The same program runs in simulated time (default,
 * finishes at once) or in real time (`--realtime`, takes 0.3 s): only the clock differs.
 *
 *   class HelloWorld(aiomas.Agent):
 *       async def run(self):
 *           print(self.name, 'says:')
 *           for i in range(3):
 *               await self.container.clock.sleep(0.1)
 *               print('Hello, World!')
 *
 * Build: cc hello-callbacks.c $(pkg-config --cflags --libs camas)
 */
#include <stdio.h>
#include <string.h>

#include <camas/clock.h>
#include <camas/time.h>

typedef struct {
    CamasClock *clock;
    const char *name;
    int said;          /* how many greetings so far */
    CamasFuture *done; /* completed after the third greeting */
} HelloAgent;

static void hello_step(CamasLoop *loop, gpointer data);

/* Sleeps 0.1 s, then continues with hello_step: the callback form of `await sleep(0.1)`. */
static gboolean
hello_sleep_then_step(HelloAgent *agent, GError **error)
{
    CamasEventId id = camas_clock_call_in(agent->clock, 0.1, hello_step, agent, NULL, error);
    return !camas_event_id_is_none(id);
}

static void
hello_step(CamasLoop *loop, gpointer data)
{
    HelloAgent *agent = data;
    printf("Hello, World!  (t=%g)\n", camas_clock_time(agent->clock));
    if (++agent->said == 3) {
        camas_future_set_result(agent->done, NULL);
        return;
    }
    GError *error = NULL;
    if (!hello_sleep_then_step(agent, &error))
        camas_future_set_error(agent->done, error);
}

static void
hello_start(CamasLoop *loop, gpointer data)
{
    HelloAgent *agent = data;
    printf("%s says:\n", agent->name);
    GError *error = NULL;
    if (!hello_sleep_then_step(agent, &error))
        camas_future_set_error(agent->done, error);
}

int
main(int argc, char **argv)
{
    gboolean realtime = argc > 1 && strcmp(argv[1], "--realtime") == 0;
    g_autoptr(CamasLoop) loop = camas_loop_new();
    /* Simulated time starts at a fixed date; real time follows the system clock. */
    gint64 start = 0;
    camas_date_parse("2016-01-01T00:00:00+00:00", &start, NULL, NULL);
    g_autoptr(CamasClock) clock = realtime ? camas_clock_new_realtime(loop, NULL)
                                           : camas_clock_new_afap(loop, start, 0);

    g_autoptr(CamasFuture) done = camas_future_new(loop);
    HelloAgent agent = {clock, "Monty", 0, done};
    camas_loop_call_soon(loop, hello_start, &agent);

    /* aiomas.run(until=agent.run()) */
    g_autoptr(GError) error = NULL;
    if (!camas_clock_run_until_complete(clock, done, NULL, &error)) {
        fprintf(stderr, "hello: %s\n", error->message);
        return 1;
    }
    return 0;
}

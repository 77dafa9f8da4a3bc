/* SPDX-License-Identifier: MIT */
/*
 * The aiomas "Hello World" agent (docs/clocks.md), written as a coroutine task: the agent's
 * run() reads as the Python does, one line per line.  The same program runs in simulated time
 * (default, finishes at once) or in real time (`--realtime`, takes 0.3 s).
 *
 *   class HelloWorld(aiomas.Agent):
 *       async def run(self):
 *           print(self.name, 'says:')
 *           for i in range(3):
 *               await self.container.clock.sleep(0.1)
 *               print('Hello, World!')
 *
 * Build: cc hello-task.c $(pkg-config --cflags --libs camas)
 */
#include <stdio.h>
#include <string.h>

#include <camas/clock.h>
#include <camas/time.h>
#include <camas/task.h>

typedef struct {
    CamasClock *clock;
    const char *name;
} HelloWorld;

/* run(): a task body.  A failed (or cancelled) sleep ends the task with that error. */
static CamasValue *
hello_world_run(CamasTask *task, gpointer data, GError **error)
{
    HelloWorld *self = data;
    printf("%s says:\n", self->name);
    for (int i = 0; i < 3; i++) {
        if (!camas_task_sleep(self->clock, 0.1, error))
            return NULL;
        printf("Hello, World!  (t=%g)\n", camas_clock_time(self->clock));
    }
    return NULL;
}

int
main(int argc, char **argv)
{
    gboolean realtime = argc > 1 && strcmp(argv[1], "--realtime") == 0;
    g_autoptr(CamasLoop) loop = camas_loop_new();
    gint64 start = 0;
    camas_date_parse("2016-01-01T00:00:00+00:00", &start, NULL, NULL);
    g_autoptr(CamasClock) clock = realtime ? camas_clock_new_realtime(loop, NULL)
                                           : camas_clock_new_afap(loop, start, 0);

    HelloWorld agent = {clock, "Monty"};
    g_autoptr(GError) error = NULL;
    CamasTaskOptions options = {.name = "Monty.run"};
    g_autoptr(CamasTask) task = camas_task_spawn(loop, hello_world_run, &agent, &options, &error);
    if (task == NULL) {
        fprintf(stderr, "hello: %s\n", error->message);
        return 1;
    }

    /* aiomas.run(until=agent.run()) */
    if (!camas_clock_run_until_complete(clock, camas_task_get_future(task), NULL, &error)) {
        fprintf(stderr, "hello: %s\n", error->message);
        return 1;
    }
    return 0;
}

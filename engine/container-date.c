/* SPDX-License-Identifier: MIT */
/*
 * Date values: the native object that stands for aiomas' arrow dates on container connections
 * (type id 0, wire-protocol.md §7.1).  A date is an instant (unix ns) plus the UTC offset it is
 * shown with, so a date received with "+01:00" goes back out with "+01:00", as arrow does.
 * Text conversion is camas_date_parse/camas_date_format (time.c); the serializer that puts
 * dates on the wire is registered by container.c.
 */
#include <camas/container.h>
#include <camas/time.h>

typedef struct {
    gint64 unix_ns;
    gint32 offset;
} DateBox;

static gpointer
date_ref(gpointer instance)
{
    return g_atomic_rc_box_acquire(instance);
}

static void
date_unref(gpointer instance)
{
    g_atomic_rc_box_release(instance);
}

/* arrow compares instants: 01:00+01:00 equals 00:00+00:00 */
static gboolean
date_equal(gconstpointer a, gconstpointer b)
{
    return ((const DateBox *)a)->unix_ns == ((const DateBox *)b)->unix_ns;
}

static void
date_repr(gconstpointer instance, GString *out)
{
    const DateBox *d = instance;
    g_autofree char *text = camas_date_format(d->unix_ns, d->offset);
    g_string_append_printf(out, "<Date %s>", text);
}

const CamasObjectType camas_date_type = {
    .name = "Date",
    .ref = date_ref,
    .unref = date_unref,
    .equal = date_equal,
    .repr = date_repr,
};

CamasValue *
camas_date_value_new(gint64 unix_ns, gint32 offset_seconds)
{
    g_return_val_if_fail(offset_seconds % 60 == 0 && ABS(offset_seconds) < 86400, NULL);
    DateBox *d = g_atomic_rc_box_new(DateBox);
    d->unix_ns = unix_ns;
    d->offset = offset_seconds;
    CamasValue *v = camas_value_new_object(&camas_date_type, d);
    g_atomic_rc_box_release(d); /* the value holds its own reference */
    return v;
}

CamasValue *
camas_date_value_parse(const char *text, GError **error)
{
    g_return_val_if_fail(text != NULL, NULL);
    gint64 ns;
    gint32 offset;
    if (!camas_date_parse(text, &ns, &offset, error))
        return NULL;
    return camas_date_value_new(ns, offset);
}

gboolean
camas_date_value_get(const CamasValue *value, gint64 *unix_ns, gint32 *offset_seconds)
{
    g_return_val_if_fail(value != NULL, FALSE);
    if (camas_value_get_type(value) != CAMAS_VALUE_OBJECT ||
        camas_value_object_get_type(value) != &camas_date_type)
        return FALSE;
    const DateBox *d = camas_value_object_get_instance(value);
    if (unix_ns)
        *unix_ns = d->unix_ns;
    if (offset_seconds)
        *offset_seconds = d->offset;
    return TRUE;
}

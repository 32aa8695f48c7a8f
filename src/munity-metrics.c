/* munity-metrics.c — counters and gauges for /metrics (pure)
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#include "config.h"

#include "munity-metrics.h"

/**
 * MunityMetrics:
 *
 * What munityd counts, rendered in the Prometheus text format 0.0.4.
 * Gauges are set by their owners (the database layer sets
 * `munity_database_up`); counters only grow.
 */
struct _MunityMetrics
{
  GObject     parent_instance;

  GHashTable *http_requests;  /* (owned) status code → guint64 count */
  GHashTable *events_sent;    /* (owned) event name (owned) → guint64 count */
  GHashTable *gauges;         /* (owned) metric name (owned) → gint64 value */
  /* Gauges with a label, such as munity_node_sockets{node="web1:8080"}:
   * metric name (owned) → GHashTable (owned) of the label pair as
   * rendered, `node="web1:8080"` (owned) → gint64 value (owned). */
  GHashTable *families;
};

G_DEFINE_FINAL_TYPE (MunityMetrics, munity_metrics, G_TYPE_OBJECT)

static void
munity_metrics_finalize (GObject *object)
{
  MunityMetrics *self = MUNITY_METRICS (object);

  g_clear_pointer (&self->http_requests, g_hash_table_unref);
  g_clear_pointer (&self->events_sent, g_hash_table_unref);
  g_clear_pointer (&self->gauges, g_hash_table_unref);
  g_clear_pointer (&self->families, g_hash_table_unref);

  G_OBJECT_CLASS (munity_metrics_parent_class)->finalize (object);
}

static void
munity_metrics_class_init (MunityMetricsClass *klass)
{
  G_OBJECT_CLASS (klass)->finalize = munity_metrics_finalize;
}

static void
munity_metrics_init (MunityMetrics *self)
{
  self->http_requests = g_hash_table_new_full (g_direct_hash, g_direct_equal, NULL, g_free);
  self->events_sent = g_hash_table_new_full (g_str_hash, g_str_equal, g_free, g_free);
  self->gauges = g_hash_table_new_full (g_str_hash, g_str_equal, g_free, g_free);
  self->families = g_hash_table_new_full (g_str_hash, g_str_equal, g_free, (GDestroyNotify) g_hash_table_unref);
}

/**
 * munity_metrics_new:
 *
 * Returns: (transfer full): an empty set of metrics
 */
MunityMetrics *
munity_metrics_new (void)
{
  return g_object_new (MUNITY_TYPE_METRICS, NULL);
}

static void
add_to (GHashTable *table,
        gpointer    key,
        gboolean    copy_key,
        guint64     n)
{
  guint64 *count = g_hash_table_lookup (table, key);

  if (count == NULL)
    {
      count = g_new0 (guint64, 1);
      g_hash_table_insert (table, copy_key ? g_strdup (key) : key, count);
    }
  *count += n;
}

/**
 * munity_metrics_count_http:
 * @self: the metrics
 * @status: the status code of a finished request
 */
void
munity_metrics_count_http (MunityMetrics *self,
                           guint          status)
{
  add_to (self->http_requests, GUINT_TO_POINTER (status), FALSE, 1);
}

/**
 * munity_metrics_count_event:
 * @self: the metrics
 * @event: an event name such as `userJoined`
 * @n: how many frames of it were sent
 */
void
munity_metrics_count_event (MunityMetrics *self,
                            const char    *event,
                            guint64        n)
{
  add_to (self->events_sent, (gpointer) event, TRUE, n);
}

/**
 * munity_metrics_set_gauge:
 * @self: the metrics
 * @name: a metric name such as `munity_database_up`
 * @value: its value now
 *
 * Also for a count kept elsewhere: a @name that ends in `_total` is
 * rendered as a counter.
 */
void
munity_metrics_set_gauge (MunityMetrics *self,
                          const char    *name,
                          gint64         value)
{
  g_hash_table_insert (self->gauges, g_strdup (name), g_memdup2 (&value, sizeof value));
}

/* A label value in the text format: backslash, quote and newline escaped. */
static void
append_label_value (GString    *out,
                    const char *value)
{
  for (const char *p = value; *p != '\0'; p++)
    {
      if (*p == '\\' || *p == '"')
        g_string_append_c (out, '\\');
      if (*p == '\n')
        g_string_append (out, "\\n");
      else
        g_string_append_c (out, *p);
    }
}

/**
 * munity_metrics_set_labelled_gauges:
 * @self: the metrics
 * @name: a metric name such as `munity_node_sockets`
 * @label: the name of its one label, such as `node`
 * @n: how many values
 * @label_values: (array length=n): the label's values
 * @values: (array length=n): the gauge's value for each
 *
 * Replaces every value of the gauge @name: a label value not given now
 * is gone from the output.
 */
void
munity_metrics_set_labelled_gauges (MunityMetrics      *self,
                                    const char         *name,
                                    const char         *label,
                                    guint               n,
                                    const char * const *label_values,
                                    const gint64       *values)
{
  GHashTable *family = g_hash_table_new_full (g_str_hash, g_str_equal, g_free, g_free);

  for (guint i = 0; i < n; i++)
    {
      GString *pair = g_string_new (label);

      g_string_append (pair, "=\"");
      append_label_value (pair, label_values[i]);
      g_string_append_c (pair, '"');
      g_hash_table_insert (family, g_string_free (pair, FALSE), g_memdup2 (&values[i], sizeof values[i]));
    }
  g_hash_table_insert (self->families, g_strdup (name), family);
}

static gint
compare_uint (gconstpointer a,
              gconstpointer b)
{
  guint x = GPOINTER_TO_UINT (*(gconstpointer *) a);
  guint y = GPOINTER_TO_UINT (*(gconstpointer *) b);
  return (x > y) - (x < y);
}

static gint
compare_str (gconstpointer a,
             gconstpointer b)
{
  return g_strcmp0 (*(const char **) a, *(const char **) b);
}

static GPtrArray *
sorted_keys (GHashTable       *table,
             GCompareFunc      compare)
{
  GPtrArray *keys = g_ptr_array_new ();
  GHashTableIter iter;
  gpointer key;

  g_hash_table_iter_init (&iter, table);
  while (g_hash_table_iter_next (&iter, &key, NULL))
    g_ptr_array_add (keys, key);
  g_ptr_array_sort (keys, compare);
  return keys;
}

/**
 * munity_metrics_render:
 * @self: the metrics
 *
 * Returns: (transfer full): the metrics in the Prometheus text format,
 *   version 0.0.4
 */
char *
munity_metrics_render (MunityMetrics *self)
{
  GString *out = g_string_new (NULL);
  g_autoptr(GPtrArray) codes = sorted_keys (self->http_requests, compare_uint);
  g_autoptr(GPtrArray) events = sorted_keys (self->events_sent, compare_str);
  g_autoptr(GPtrArray) gauges = sorted_keys (self->gauges, compare_str);
  g_autoptr(GPtrArray) families = sorted_keys (self->families, compare_str);

  g_string_append (out,
                   "# HELP munity_http_requests_total HTTP requests answered, by status code.\n"
                   "# TYPE munity_http_requests_total counter\n");
  for (guint i = 0; i < codes->len; i++)
    {
      guint64 *count = g_hash_table_lookup (self->http_requests, codes->pdata[i]);
      g_string_append_printf (out, "munity_http_requests_total{code=\"%u\"} %" G_GUINT64_FORMAT "\n",
                              GPOINTER_TO_UINT (codes->pdata[i]), *count);
    }

  g_string_append (out,
                   "# HELP munity_events_sent_total WebSocket event frames sent, by event.\n"
                   "# TYPE munity_events_sent_total counter\n");
  for (guint i = 0; i < events->len; i++)
    {
      guint64 *count = g_hash_table_lookup (self->events_sent, events->pdata[i]);
      g_string_append_printf (out, "munity_events_sent_total{event=\"%s\"} %" G_GUINT64_FORMAT "\n",
                              (const char *) events->pdata[i], *count);
    }

  for (guint i = 0; i < gauges->len; i++)
    {
      const char *name = gauges->pdata[i];
      gint64 *value = g_hash_table_lookup (self->gauges, name);
      g_string_append_printf (out, "# TYPE %s %s\n%s %" G_GINT64_FORMAT "\n",
                              name, g_str_has_suffix (name, "_total") ? "counter" : "gauge",
                              name, *value);
    }

  for (guint i = 0; i < families->len; i++)
    {
      const char *name = families->pdata[i];
      GHashTable *family = g_hash_table_lookup (self->families, name);
      g_autoptr(GPtrArray) pairs = sorted_keys (family, compare_str);

      g_string_append_printf (out, "# TYPE %s gauge\n", name);
      for (guint j = 0; j < pairs->len; j++)
        {
          gint64 *value = g_hash_table_lookup (family, pairs->pdata[j]);

          g_string_append_printf (out, "%s{%s} %" G_GINT64_FORMAT "\n",
                                  name, (const char *) pairs->pdata[j], *value);
        }
    }

  return g_string_free (out, FALSE);
}

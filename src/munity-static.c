/* munity-static.c — the web client's files, served from its build directory
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <glib/gi18n.h>
#include <glib/gstdio.h>
#include <json-glib/json-glib.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "munity-error.h"
#include "munity-http-routes.h"
#include "munity-static.h"

/* Files of a Vite build are small; anything larger is not ours. */
#define MAX_FILE_SIZE (32 * 1024 * 1024)
/* Hashed assets never change, so they are kept in memory, up to this much. */
#define MAX_CACHE_BYTES (32 * 1024 * 1024)

#define ALLOW_METHODS "GET, HEAD, OPTIONS"

/**
 * MunityStatic:
 *
 * Serves the web client's build (`src/web/dist`, or the installed copy) for
 * GET and HEAD: the right Content-Type, long cache lifetimes for the hashed
 * files under `/assets/` and `no-cache` for `index.html`, the
 * Content-Security-Policy on HTML, `X-Content-Type-Options: nosniff` on
 * everything, and `index.html` for the client's routes (`/online`,
 * `/users/42`, ...).
 *
 * Which file a path names is decided by munity_static_route() without
 * touching the disk. The file is then read in a worker thread while the
 * message is paused, so the main loop never waits for the disk; the worker
 * resolves the real path and refuses anything outside the root, so neither
 * `..` nor a symbolic link leads out of it.
 */
struct _MunityStatic
{
  GObject     parent_instance;

  char       *root;        /* (owned) */
  GHashTable *cache;       /* (owned) relpath → CachedFile */
  gsize       cache_bytes;
};

G_DEFINE_FINAL_TYPE (MunityStatic, munity_static, G_TYPE_OBJECT)

typedef struct {
  GBytes *bytes;  /* (owned) */
  char   *etag;   /* (owned) */
} CachedFile;

static void
cached_file_free (CachedFile *file)
{
  g_bytes_unref (file->bytes);
  g_free (file->etag);
  g_free (file);
}

/* ---- pure decisions ---------------------------------------------------- */

/**
 * munity_static_route:
 * @path: the request path as it came, still percent-encoded
 * @out_relpath: (out) (optional) (nullable) (transfer full): for
 *   %MUNITY_STATIC_ROUTE_FILE and %MUNITY_STATIC_ROUTE_INDEX, the decoded
 *   path of the file relative to the root (`assets/index-3f9a.js`,
 *   `index.html`)
 *
 * Decides what a request path means for the web client, without I/O.
 * Paths with a segment that is empty (except a final one), `.`, `..` or
 * starts with a dot, with an escaped `/` or NUL, with a backslash or a
 * control character are refused.
 *
 * Returns: what the path names
 */
MunityStaticRoute
munity_static_route (const char  *path,
                     char       **out_relpath)
{
  g_autofree char *decoded = NULL;
  g_auto(GStrv) segments = NULL;
  guint n;
  const char *last;

  if (out_relpath != NULL)
    *out_relpath = NULL;

  if (path == NULL || path[0] != '/')
    return MUNITY_STATIC_ROUTE_NOT_FOUND;

  /* The route table decides what is the API's (munity-http-routes.c). */
  if (munity_http_path_is_reserved (path))
    return MUNITY_STATIC_ROUTE_NOT_MINE;

  /* NULL for %2F, %00 and broken escapes. */
  decoded = g_uri_unescape_string (path, "/");
  if (decoded == NULL)
    return MUNITY_STATIC_ROUTE_NOT_FOUND;
  if (munity_http_path_is_reserved (decoded))
    return MUNITY_STATIC_ROUTE_NOT_MINE;

  for (const char *p = decoded; *p != '\0'; p++)
    {
      if ((guchar) *p < 0x20 || *p == 0x7f || *p == '\\')
        return MUNITY_STATIC_ROUTE_NOT_FOUND;
    }

  if (g_str_equal (decoded, "/"))
    {
      if (out_relpath != NULL)
        *out_relpath = g_strdup ("index.html");
      return MUNITY_STATIC_ROUTE_INDEX;
    }

  segments = g_strsplit (decoded + 1, "/", -1);
  n = g_strv_length (segments);
  for (guint i = 0; i < n; i++)
    {
      const char *segment = segments[i];

      if (segment[0] == '\0')
        {
          /* "/online/" is the client route "/online"; "/a//b" is nothing. */
          if (i == n - 1)
            continue;
          return MUNITY_STATIC_ROUTE_NOT_FOUND;
        }
      /* ".", "..", and dot files (.git, .env) */
      if (segment[0] == '.')
        return MUNITY_STATIC_ROUTE_NOT_FOUND;
    }

  last = segments[n - 1];
  if (last[0] != '\0' && strchr (last, '.') != NULL)
    {
      if (out_relpath != NULL)
        *out_relpath = g_strdup (decoded + 1);
      return g_str_equal (decoded, "/index.html") ? MUNITY_STATIC_ROUTE_INDEX : MUNITY_STATIC_ROUTE_FILE;
    }

  /* A client route: the single-page app decides what it shows. */
  if (out_relpath != NULL)
    *out_relpath = g_strdup ("index.html");
  return MUNITY_STATIC_ROUTE_INDEX;
}

static const struct {
  const char *extension;
  const char *type;
} content_types[] = {
  { "html", "text/html; charset=utf-8" },
  { "htm", "text/html; charset=utf-8" },
  { "js", "text/javascript; charset=utf-8" },
  { "mjs", "text/javascript; charset=utf-8" },
  { "css", "text/css; charset=utf-8" },
  { "svg", "image/svg+xml" },
  { "png", "image/png" },
  { "jpg", "image/jpeg" },
  { "jpeg", "image/jpeg" },
  { "webp", "image/webp" },
  { "gif", "image/gif" },
  { "ico", "image/x-icon" },
  { "json", "application/json" },
  { "webmanifest", "application/manifest+json" },
  { "woff2", "font/woff2" },
  { "woff", "font/woff" },
  { "map", "application/json" },
  { "txt", "text/plain; charset=utf-8" },
};

/**
 * munity_static_content_type:
 * @relpath: a file name or path
 *
 * Returns: the Content-Type for the file's extension (case does not
 *   matter), `application/octet-stream` for anything unknown
 */
const char *
munity_static_content_type (const char *relpath)
{
  const char *base = strrchr (relpath, '/');
  const char *dot;

  base = base != NULL ? base + 1 : relpath;
  dot = strrchr (base, '.');
  if (dot != NULL && dot != base)
    {
      for (gsize i = 0; i < G_N_ELEMENTS (content_types); i++)
        {
          if (g_ascii_strcasecmp (dot + 1, content_types[i].extension) == 0)
            return content_types[i].type;
        }
    }
  return "application/octet-stream";
}

/**
 * munity_static_is_html:
 * @relpath: a file name or path
 *
 * Returns: %TRUE if the file is served as HTML (and so gets the CSP)
 */
gboolean
munity_static_is_html (const char *relpath)
{
  return g_str_has_prefix (munity_static_content_type (relpath), "text/html");
}

/**
 * munity_static_cache_control:
 * @relpath: the file's path relative to the root
 *
 * Vite names the files under `assets/` after a hash of their content, so a
 * browser may keep them for ever; everything else (`index.html`, which names
 * the current assets, and the few unhashed files) is checked every time.
 *
 * Returns: the Cache-Control header for the file
 */
const char *
munity_static_cache_control (const char *relpath)
{
  if (g_str_has_prefix (relpath, "assets/"))
    return "public, max-age=31536000, immutable";
  return "no-cache";
}

/**
 * munity_static_path_is_under:
 * @path: a canonical absolute path (symbolic links resolved)
 * @root: the canonical root
 *
 * Returns: %TRUE if @path is inside @root (not @root itself)
 */
gboolean
munity_static_path_is_under (const char *path,
                             const char *root)
{
  gsize len = strlen (root);

  /* A root of "/" canonicalises to "/": everything is under it. */
  while (len > 0 && root[len - 1] == '/')
    len--;
  return strncmp (path, root, len) == 0 && path[len] == '/' && path[len + 1] != '\0';
}

/**
 * munity_static_default_root:
 *
 * Where the web client's build is: `$MUNITY_WEB_DIR` when set, else the
 * installed copy (`$datadir/munity/web`) when it holds an `index.html`,
 * else `src/web/dist` in the source tree munityd was built from.
 *
 * Returns: (transfer full): the directory
 */
char *
munity_static_default_root (void)
{
  const char *env = g_getenv ("MUNITY_WEB_DIR");
  g_autofree char *installed_index = g_build_filename (MUNITY_WEBDIR, "index.html", NULL);

  if (env != NULL && env[0] != '\0')
    return g_strdup (env);
  if (g_file_test (installed_index, G_FILE_TEST_IS_REGULAR))
    return g_strdup (MUNITY_WEBDIR);
  return g_strdup (MUNITY_SOURCE_WEBDIR);
}

/* ---- reading a file, in a worker thread -------------------------------- */

typedef struct {
  char *root;     /* (owned) */
  char *relpath;  /* (owned) */
} LoadData;

static void
load_data_free (LoadData *data)
{
  g_free (data->root);
  g_free (data->relpath);
  g_free (data);
}

typedef struct {
  GBytes *bytes;  /* (owned) */
  char   *etag;   /* (owned) */
} Loaded;

static void
loaded_free (Loaded *loaded)
{
  g_clear_pointer (&loaded->bytes, g_bytes_unref);
  g_free (loaded->etag);
  g_free (loaded);
}

G_DEFINE_AUTOPTR_CLEANUP_FUNC (Loaded, loaded_free)

static gboolean
read_all (int      fd,
          char    *buffer,
          gsize    size,
          GError **error)
{
  gsize done = 0;

  while (done < size)
    {
      ssize_t n = read (fd, buffer + done, size - done);

      if (n < 0 && errno == EINTR)
        continue;
      if (n < 0)
        {
          int saved = errno;
          g_set_error (error, G_IO_ERROR, g_io_error_from_errno (saved), "read: %s", g_strerror (saved));
          return FALSE;
        }
      if (n == 0)
        {
          g_set_error_literal (error, G_IO_ERROR, G_IO_ERROR_PARTIAL_INPUT, "the file shrank while it was read");
          return FALSE;
        }
      done += (gsize) n;
    }
  return TRUE;
}

/* Runs in a worker thread: every blocking call is here. */
static void
load_in_thread (GTask        *task,
                gpointer      source_object,
                gpointer      task_data,
                GCancellable *cancellable)
{
  LoadData *data = task_data;
  g_autofree char *real_root = NULL;
  g_autofree char *full = NULL;
  g_autofree char *real = NULL;
  g_autofree char *buffer = NULL;
  g_autoptr(GError) error = NULL;
  Loaded *loaded;
  struct stat st;
  int fd;

  real_root = realpath (data->root, NULL);
  if (real_root == NULL)
    {
      g_task_return_new_error (task, G_IO_ERROR, G_IO_ERROR_NOT_FOUND, "no web root at %s", data->root);
      return;
    }

  full = g_build_filename (real_root, data->relpath, NULL);
  real = realpath (full, NULL);
  /* A symbolic link that leads out of the root is as good as missing. */
  if (real == NULL || !munity_static_path_is_under (real, real_root))
    {
      g_task_return_new_error (task, G_IO_ERROR, G_IO_ERROR_NOT_FOUND, "no such file: %s", data->relpath);
      return;
    }

  fd = g_open (real, O_RDONLY | O_CLOEXEC | O_NOFOLLOW | O_NOCTTY, 0);
  if (fd < 0)
    {
      int saved = errno;
      g_task_return_new_error (task, G_IO_ERROR, G_IO_ERROR_NOT_FOUND, "%s: %s", data->relpath, g_strerror (saved));
      return;
    }

  if (fstat (fd, &st) < 0 || !S_ISREG (st.st_mode) || st.st_size > MAX_FILE_SIZE)
    {
      g_close (fd, NULL);
      g_task_return_new_error (task, G_IO_ERROR, G_IO_ERROR_NOT_FOUND, "not a servable file: %s", data->relpath);
      return;
    }

  buffer = g_malloc (st.st_size > 0 ? (gsize) st.st_size : 1);
  if (!read_all (fd, buffer, (gsize) st.st_size, &error))
    {
      g_close (fd, NULL);
      g_task_return_error (task, g_steal_pointer (&error));
      return;
    }
  g_close (fd, NULL);

  loaded = g_new0 (Loaded, 1);
  loaded->bytes = g_bytes_new_take (g_steal_pointer (&buffer), (gsize) st.st_size);
  loaded->etag = g_strdup_printf ("\"%" G_GINT64_MODIFIER "x-%" G_GINT64_MODIFIER "x-%" G_GINT64_MODIFIER "x\"",
                                  (gint64) st.st_size, (gint64) st.st_mtim.tv_sec, (gint64) st.st_mtim.tv_nsec);
  g_task_return_pointer (task, loaded, (GDestroyNotify) loaded_free);
}

/* ---- answers ----------------------------------------------------------- */

static void
set_json_error (SoupServerMessage *msg,
                guint              status,
                const char        *code,
                const char        *message)
{
  char *text = munity_error_body_new (code, message);

  soup_server_message_set_status (msg, status, NULL);
  soup_message_headers_replace (soup_server_message_get_response_headers (msg), "Cache-Control", "no-store");
  soup_server_message_set_response (msg, "application/json", SOUP_MEMORY_TAKE, text, strlen (text));
}

static void
set_not_found (SoupServerMessage *msg)
{
  set_json_error (msg, SOUP_STATUS_NOT_FOUND, "not-found", _("There is nothing here."));
}

static void
set_build_missing (MunityStatic      *self,
                   SoupServerMessage *msg)
{
  g_autofree char *root = g_markup_escape_text (self->root, -1);
  SoupMessageHeaders *headers = soup_server_message_get_response_headers (msg);
  char *page;

  page = g_strdup_printf (
    "<!doctype html>\n"
    "<html lang=\"en\"><head><meta charset=\"utf-8\">"
    "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">"
    "<title>Munity: the web client is not built</title></head>\n"
    "<body><h1>Munity</h1>\n"
    "<p>munityd is running and its API answers, but the web client has not been built: "
    "there is no <code>index.html</code> in <code>%s</code>.</p>\n"
    "<p>Build it from the source tree with</p>\n"
    "<pre>cd src/web &amp;&amp; npm ci &amp;&amp; npm run build</pre>\n"
    "<p>or run <code>./run.sh</code>, which does it for you. Another build directory can be "
    "given with the environment variable <code>MUNITY_WEB_DIR</code>.</p>\n"
    "</body></html>\n", root);

  soup_server_message_set_status (msg, SOUP_STATUS_OK, NULL);
  soup_message_headers_replace (headers, "Cache-Control", "no-store");
  soup_message_headers_replace (headers, "Content-Security-Policy", MUNITY_STATIC_CSP);
  soup_server_message_set_response (msg, "text/html; charset=utf-8", SOUP_MEMORY_TAKE, page, strlen (page));
}

static gboolean
etag_matches (SoupServerMessage *msg,
              const char        *etag)
{
  const char *wanted = soup_message_headers_get_one (soup_server_message_get_request_headers (msg),
                                                     "If-None-Match");
  g_auto(GStrv) tags = NULL;

  if (wanted == NULL)
    return FALSE;
  tags = g_strsplit (wanted, ",", -1);
  for (guint i = 0; tags[i] != NULL; i++)
    {
      const char *tag = g_strstrip (tags[i]);

      if (g_str_has_prefix (tag, "W/"))
        tag += 2;
      if (g_str_equal (tag, "*") || g_str_equal (tag, etag))
        return TRUE;
    }
  return FALSE;
}

static void
set_file (SoupServerMessage *msg,
          const char        *relpath,
          GBytes            *bytes,
          const char        *etag)
{
  SoupMessageHeaders *headers = soup_server_message_get_response_headers (msg);

  soup_message_headers_replace (headers, "Cache-Control", munity_static_cache_control (relpath));
  soup_message_headers_replace (headers, "ETag", etag);
  if (munity_static_is_html (relpath))
    soup_message_headers_replace (headers, "Content-Security-Policy", MUNITY_STATIC_CSP);

  if (etag_matches (msg, etag))
    {
      soup_server_message_set_status (msg, SOUP_STATUS_NOT_MODIFIED, NULL);
      return;
    }

  soup_server_message_set_status (msg, SOUP_STATUS_OK, NULL);
  soup_message_headers_replace (headers, "Content-Type", munity_static_content_type (relpath));
  soup_message_body_append_bytes (soup_server_message_get_response_body (msg), bytes);
}

/* ---- one request ------------------------------------------------------- */

typedef struct {
  MunityStatic      *self;          /* (owned) */
  SoupServerMessage *msg;           /* (owned) */
  char              *relpath;       /* (owned) */
  MunityStaticRoute  route;
  gboolean           disconnected;
  gulong             disconnected_id;
} Pending;

static void
on_disconnected (SoupServerMessage *msg,
                 gpointer           user_data)
{
  Pending *pending = user_data;

  pending->disconnected = TRUE;
}

static void
pending_free (Pending *pending)
{
  g_clear_signal_handler (&pending->disconnected_id, pending->msg);
  g_clear_object (&pending->msg);
  g_clear_object (&pending->self);
  g_free (pending->relpath);
  g_free (pending);
}

static void
cache_put (MunityStatic *self,
           const char   *relpath,
           Loaded       *loaded)
{
  CachedFile *file;
  gsize size = g_bytes_get_size (loaded->bytes);

  if (!g_str_has_prefix (relpath, "assets/") || self->cache_bytes + size > MAX_CACHE_BYTES ||
      g_hash_table_contains (self->cache, relpath))
    return;

  file = g_new0 (CachedFile, 1);
  file->bytes = g_bytes_ref (loaded->bytes);
  file->etag = g_strdup (loaded->etag);
  g_hash_table_insert (self->cache, g_strdup (relpath), file);
  self->cache_bytes += size;
}

static void
loaded_cb (GObject      *source,
           GAsyncResult *result,
           gpointer      user_data)
{
  Pending *pending = user_data;
  MunityStatic *self = MUNITY_STATIC (source);
  g_autoptr(Loaded) loaded = NULL;
  g_autoptr(GError) error = NULL;

  loaded = g_task_propagate_pointer (G_TASK (result), &error);
  if (loaded != NULL)
    cache_put (self, pending->relpath, loaded);

  if (pending->disconnected)
    {
      pending_free (pending);
      return;
    }

  if (loaded != NULL)
    set_file (pending->msg, pending->relpath, loaded->bytes, loaded->etag);
  else if (pending->route == MUNITY_STATIC_ROUTE_INDEX)
    {
      g_debug ("No web client to serve: %s", error->message);
      set_build_missing (self, pending->msg);
    }
  else
    set_not_found (pending->msg);

  soup_server_message_unpause (pending->msg);
  pending_free (pending);
}

/**
 * munity_static_serve:
 * @self: a #MunityStatic
 * @msg: the request
 * @path: the request path, as the #SoupServer handler got it
 *
 * Answers @msg if @path is the web client's: a file of the build, or
 * `index.html` for a client route, or a JSON 404 (`not-found`); only GET
 * and HEAD (OPTIONS answers the `Allow` header, anything else 405
 * `method-not-allowed`). Paths of the API, `/ws`, `/healthz`, `/metrics`
 * and `/avatars/` are left to the caller. When the answer needs the disk,
 * @msg is paused and unpaused once the file was read.
 *
 * Returns: %TRUE if @msg was taken care of, %FALSE if the caller must
 *   answer it
 */
gboolean
munity_static_serve (MunityStatic      *self,
                     SoupServerMessage *msg,
                     const char        *path)
{
  SoupMessageHeaders *headers;
  const char *method;
  g_autofree char *relpath = NULL;
  MunityStaticRoute route;
  CachedFile *cached;
  Pending *pending;
  LoadData *data;
  g_autoptr(GTask) task = NULL;

  g_return_val_if_fail (MUNITY_IS_STATIC (self), FALSE);
  g_return_val_if_fail (SOUP_IS_SERVER_MESSAGE (msg), FALSE);

  route = munity_static_route (path, &relpath);
  if (route == MUNITY_STATIC_ROUTE_NOT_MINE)
    return FALSE;

  headers = soup_server_message_get_response_headers (msg);
  soup_message_headers_replace (headers, "X-Content-Type-Options", "nosniff");

  method = soup_server_message_get_method (msg);
  if (g_str_equal (method, "OPTIONS"))
    {
      soup_message_headers_replace (headers, "Allow", ALLOW_METHODS);
      soup_server_message_set_status (msg, SOUP_STATUS_NO_CONTENT, NULL);
      return TRUE;
    }
  if (!g_str_equal (method, "GET") && !g_str_equal (method, "HEAD"))
    {
      soup_message_headers_replace (headers, "Allow", ALLOW_METHODS);
      set_json_error (msg, SOUP_STATUS_METHOD_NOT_ALLOWED, "method-not-allowed",
                      _("This method is not allowed here."));
      return TRUE;
    }

  if (route == MUNITY_STATIC_ROUTE_NOT_FOUND)
    {
      set_not_found (msg);
      return TRUE;
    }

  cached = g_hash_table_lookup (self->cache, relpath);
  if (cached != NULL)
    {
      set_file (msg, relpath, cached->bytes, cached->etag);
      return TRUE;
    }

  pending = g_new0 (Pending, 1);
  pending->self = g_object_ref (self);
  pending->msg = g_object_ref (msg);
  pending->relpath = g_strdup (relpath);
  pending->route = route;
  pending->disconnected_id = g_signal_connect (msg, "disconnected", G_CALLBACK (on_disconnected), pending);

  data = g_new0 (LoadData, 1);
  data->root = g_strdup (self->root);
  data->relpath = g_steal_pointer (&relpath);

  soup_server_message_pause (msg);
  task = g_task_new (self, NULL, loaded_cb, pending);
  g_task_set_source_tag (task, munity_static_serve);
  g_task_set_task_data (task, data, (GDestroyNotify) load_data_free);
  g_task_run_in_thread (task, load_in_thread);
  return TRUE;
}

/* ---- the object -------------------------------------------------------- */

static void
munity_static_finalize (GObject *object)
{
  MunityStatic *self = MUNITY_STATIC (object);

  g_clear_pointer (&self->cache, g_hash_table_unref);
  g_clear_pointer (&self->root, g_free);

  G_OBJECT_CLASS (munity_static_parent_class)->finalize (object);
}

static void
munity_static_class_init (MunityStaticClass *klass)
{
  G_OBJECT_CLASS (klass)->finalize = munity_static_finalize;
}

static void
munity_static_init (MunityStatic *self)
{
  self->cache = g_hash_table_new_full (g_str_hash, g_str_equal, g_free, (GDestroyNotify) cached_file_free);
}

/**
 * munity_static_new:
 * @root_dir: the web client's build directory (see
 *   munity_static_default_root()); it need not exist yet
 *
 * Returns: (transfer full): a new #MunityStatic
 */
MunityStatic *
munity_static_new (const char *root_dir)
{
  MunityStatic *self;

  g_return_val_if_fail (root_dir != NULL, NULL);

  self = g_object_new (MUNITY_TYPE_STATIC, NULL);
  self->root = g_strdup (root_dir);
  return self;
}

/**
 * munity_static_get_root:
 * @self: a #MunityStatic
 *
 * Returns: (transfer none): the build directory it serves
 */
const char *
munity_static_get_root (MunityStatic *self)
{
  g_return_val_if_fail (MUNITY_IS_STATIC (self), NULL);

  return self->root;
}

/* munity-http-avatars.c — the pictures: storing an upload, removing one, serving /avatars/
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#include "config.h"

#include <glib/gi18n.h>
#include <string.h>

#include "munity-avatar.h"
#include "munity-error.h"
#include "munity-http-private.h"

/* A picture is written to a temporary name in the avatars directory, then
 * renamed: a full disk or a crash never leaves half a picture under a name
 * that a user refers to. (g_file_replace() writes a file that does not
 * exist yet in place.)
 *
 * Creating and writing the temporary file take the request's cancellable:
 * a client that goes away before then leaves nothing (the temporary file
 * is removed). The rename and the database write do not: a cancelled write may
 * still commit (munity_db_query_async()), and the new file must then stay
 * and reach who is online. */
typedef struct {
  MunityHttpReq *req;
  GBytes        *bytes;  /* (owned) */
  GFile         *tmp;    /* (owned) */
  GFile         *file;   /* (owned) the new picture */
  GOutputStream *out;    /* (owned) (nullable) */
  char          *url;    /* (owned) */
  GError        *write_error; /* (owned) (nullable) */
  gboolean       full;   /* the write failed for want of space */
} Upload;

static void
upload_free (Upload *upload)
{
  g_clear_pointer (&upload->bytes, g_bytes_unref);
  g_clear_object (&upload->tmp);
  g_clear_object (&upload->file);
  g_clear_object (&upload->out);
  g_clear_error (&upload->write_error);
  g_free (upload->url);
  g_free (upload);
}

static void
deleted_cb (GObject      *source,
            GAsyncResult *result,
            gpointer      user_data)
{
  g_autoptr(GError) error = NULL;

  if (!g_file_delete_finish (G_FILE (source), result, &error))
    g_debug ("Removing an old picture: %s", error->message);
}

static void
delete_avatar_url (MunityHttpServer *self,
                   const char       *url)
{
  const char *name;
  g_autoptr(GFile) file = NULL;

  if (url == NULL || !g_str_has_prefix (url, MUNITY_AVATAR_URL_PREFIX))
    return;
  name = url + strlen (MUNITY_AVATAR_URL_PREFIX);
  if (munity_avatar_name_type (name) == NULL)
    return;

  file = g_file_new_build_filename (self->avatar_dir, name, NULL);
  g_file_delete_async (file, G_PRIORITY_DEFAULT, NULL, deleted_cb, NULL);
}

static void
image_stored_cb (GObject      *source,
                 GAsyncResult *result,
                 gpointer      user_data)
{
  Upload *upload = user_data;
  MunityHttpReq *req = upload->req;
  g_autoptr(MunityUserInfo) user = NULL;
  g_autofree char *old_url = NULL;
  g_autoptr(GError) error = NULL;

  user = munity_accounts_set_image_finish (MUNITY_ACCOUNTS (source), result, &old_url, &error);
  if (user == NULL)
    {
      /* Nothing refers to the new file: do not leave it behind. */
      delete_avatar_url (req->self, upload->url);
      upload_free (upload);
      munity_http_req_fail (req, error);
      return;
    }

  delete_avatar_url (req->self, old_url);
  upload_free (upload);
  if (munity_http_req_end_if_gone (req))
    return;
  munity_http_req_reply_user (req, SOUP_STATUS_OK, user, TRUE);
}

static void
tmp_deleted_cb (GObject      *source,
                GAsyncResult *result,
                gpointer      user_data)
{
  Upload *upload = user_data;
  MunityHttpReq *req = upload->req;
  gboolean full = upload->full;
  g_autoptr(GError) error = NULL;

  if (!g_file_delete_finish (G_FILE (source), result, &error) &&
      !g_error_matches (error, G_IO_ERROR, G_IO_ERROR_NOT_FOUND))
    g_message ("Cannot remove %s: %s", g_file_peek_path (upload->tmp), error->message);
  upload_free (upload);
  if (full)
    munity_http_req_fail_code (req, MUNITY_ERROR_STORAGE_FULL, _("The server’s disk is full; the picture was not stored."));
  else
    munity_http_req_fail_code (req, MUNITY_ERROR_FAILED, "cannot store the picture");
}

/* A write that failed: the temporary file goes first, then the client
 * learns whether the disk is full (507) or something else went wrong
 * (500). A write cancelled because the client went away is no fault. */
static void
upload_fail (Upload       *upload,
             const GError *error)
{
  MunityHttpReq *req = upload->req;

  upload->full = g_error_matches (error, G_IO_ERROR, G_IO_ERROR_NO_SPACE);
  if (g_cancellable_is_cancelled (req->cancellable))
    g_debug ("Stopped storing a picture for a client that went away: %s", error->message);
  else if (upload->full)
    g_message ("Cannot store a picture in %s: %s", req->self->avatar_dir, error->message);
  else
    g_warning ("Cannot store a picture in %s: %s", req->self->avatar_dir, error->message);
  g_file_delete_async (upload->tmp, G_PRIORITY_DEFAULT, NULL, tmp_deleted_cb, upload);
}

static void
image_moved_cb (GObject      *source,
                GAsyncResult *result,
                gpointer      user_data)
{
  Upload *upload = user_data;
  MunityHttpReq *req = upload->req;
  g_autoptr(GError) error = NULL;

  if (!g_file_move_finish (G_FILE (source), result, &error))
    {
      upload_fail (upload, error);
      return;
    }

  munity_accounts_set_image_async (req->self->accounts, req->user->id, upload->url,
                                   NULL, image_stored_cb, upload);
}

static void
image_closed_cb (GObject      *source,
                 GAsyncResult *result,
                 gpointer      user_data)
{
  Upload *upload = user_data;
  g_autoptr(GError) error = NULL;

  /* A failed write is the error to report, not the close after it. */
  if (!g_output_stream_close_finish (G_OUTPUT_STREAM (source), result, &error) ||
      upload->write_error != NULL)
    {
      upload_fail (upload, upload->write_error != NULL ? upload->write_error : error);
      return;
    }

  /* Never cancelled: a move cancelled after its rename would leave a
   * picture that nothing refers to. */
  g_file_move_async (upload->tmp, upload->file, G_FILE_COPY_NONE, G_PRIORITY_DEFAULT,
                     NULL, NULL, NULL, image_moved_cb, upload);
}

static void
image_written_cb (GObject      *source,
                  GAsyncResult *result,
                  gpointer      user_data)
{
  Upload *upload = user_data;
  g_autoptr(GError) error = NULL;

  upload->write_error = g_output_stream_write_all_finish (G_OUTPUT_STREAM (source), result, NULL, &error)
                        ? NULL : g_steal_pointer (&error);
  /* Closed either way, so that the descriptor goes (asynchronously: a close
   * can wait on the disk). Never cancelled: the descriptor must go. */
  g_output_stream_close_async (upload->out, G_PRIORITY_DEFAULT, NULL, image_closed_cb, upload);
}

static void
image_created_cb (GObject      *source,
                  GAsyncResult *result,
                  gpointer      user_data)
{
  Upload *upload = user_data;
  g_autoptr(GError) error = NULL;

  upload->out = G_OUTPUT_STREAM (g_file_create_finish (G_FILE (source), result, &error));
  if (upload->out == NULL)
    {
      upload_fail (upload, error);
      return;
    }

  g_output_stream_write_all_async (upload->out, g_bytes_get_data (upload->bytes, NULL),
                                   g_bytes_get_size (upload->bytes), G_PRIORITY_DEFAULT,
                                   upload->req->cancellable, image_written_cb, upload);
}

void
munity_http_handle_avatar_post (MunityHttpReq *req)
{
  SoupMessageBody *body = soup_server_message_get_request_body (req->msg);
  g_autoptr(GBytes) bytes = soup_message_body_flatten (body);
  gsize length;
  const guint8 *data = g_bytes_get_data (bytes, &length);
  const char *extension = NULL;
  g_autofree char *name = NULL;
  g_autofree char *tmp_name = NULL;
  Upload *upload;

  if (munity_avatar_sniff (data, length, &extension) == NULL)
    {
      munity_http_req_fail_code (req, MUNITY_ERROR_BAD_IMAGE,
                                 _("The picture must be a PNG, JPEG, WebP or GIF image."));
      return;
    }

  name = munity_avatar_new_name (req->user->id, extension);
  /* Never served: munity_avatar_name_type() refuses names with a dot first. */
  tmp_name = g_strconcat (".upload-", name, NULL);
  upload = g_new0 (Upload, 1);
  upload->req = req;
  upload->bytes = g_steal_pointer (&bytes);
  upload->tmp = g_file_new_build_filename (req->self->avatar_dir, tmp_name, NULL);
  upload->file = g_file_new_build_filename (req->self->avatar_dir, name, NULL);
  upload->url = g_strconcat (MUNITY_AVATAR_URL_PREFIX, name, NULL);

  munity_http_req_pause (req);
  g_file_create_async (upload->tmp, G_FILE_CREATE_PRIVATE, G_PRIORITY_DEFAULT, req->cancellable,
                       image_created_cb, upload);
}

static void
image_removed_cb (GObject      *source,
                  GAsyncResult *result,
                  gpointer      user_data)
{
  MunityHttpReq *req = user_data;
  g_autoptr(MunityUserInfo) user = NULL;
  g_autofree char *old_url = NULL;
  g_autoptr(GError) error = NULL;

  /* Online, the change reaches everyone through "user-changed". */
  user = munity_accounts_set_image_finish (MUNITY_ACCOUNTS (source), result, &old_url, &error);
  if (user == NULL)
    {
      munity_http_req_fail (req, error);
      return;
    }

  delete_avatar_url (req->self, old_url);
  if (munity_http_req_end_if_gone (req))
    return;
  munity_http_req_reply_user (req, SOUP_STATUS_OK, user, TRUE);
}

/* DELETE /api/me/avatar: without a picture again. Removing none is no
 * error (the answer is the same); the file goes after the row, so that
 * nothing refers to a missing picture. */
void
munity_http_handle_avatar_delete (MunityHttpReq *req)
{
  munity_http_req_pause (req);
  /* Not cancelled with the request: a write that commits must reach who
   * is online, and its old file must go. */
  munity_accounts_set_image_async (req->self->accounts, req->user->id, NULL,
                                   NULL, image_removed_cb, req);
}

static void
avatar_loaded_cb (GObject      *source,
                  GAsyncResult *result,
                  gpointer      user_data)
{
  MunityHttpReq *req = user_data;
  g_autoptr(GBytes) bytes = NULL;
  const char *type = munity_avatar_name_type (req->path + strlen (MUNITY_AVATAR_URL_PREFIX));
  SoupMessageHeaders *headers;

  bytes = g_file_load_bytes_finish (G_FILE (source), result, NULL, NULL);
  if (munity_http_req_end_if_gone (req))
    return;
  if (bytes == NULL)
    {
      munity_http_req_fail_code (req, MUNITY_ERROR_NOT_FOUND, _("There is nothing here."));
      return;
    }

  headers = soup_server_message_get_response_headers (req->msg);
  soup_message_headers_replace (headers, "X-Content-Type-Options", "nosniff");
  soup_message_headers_replace (headers, "Cache-Control", "public, max-age=31536000, immutable");
  soup_message_headers_replace (headers, "Content-Security-Policy", "default-src 'none'; sandbox");
  soup_server_message_set_status (req->msg, SOUP_STATUS_OK, NULL);
  soup_server_message_set_response (req->msg, type, SOUP_MEMORY_COPY,
                                    g_bytes_get_data (bytes, NULL), g_bytes_get_size (bytes));
  munity_http_req_done (req);
}

void
munity_http_handle_avatar_get (MunityHttpReq *req)
{
  const char *name = req->path + strlen (MUNITY_AVATAR_URL_PREFIX);
  g_autoptr(GFile) file = NULL;

  if (munity_avatar_name_type (name) == NULL)
    {
      munity_http_req_fail_code (req, MUNITY_ERROR_NOT_FOUND, _("There is nothing here."));
      return;
    }

  file = g_file_new_build_filename (req->self->avatar_dir, name, NULL);
  munity_http_req_pause (req);
  g_file_load_bytes_async (file, req->cancellable, avatar_loaded_cb, req);
}

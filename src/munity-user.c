/* munity-user.c — one online user in the presence model
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#include "config.h"

#include "munity-presence-private.h"
#include "munity-user.h"

/**
 * MunityUser:
 *
 * A user who is online: the details everyone may see, the user's open
 * sockets, and since when the user is online. A user whose last socket
 * closed stays online ("lingering", with no sockets) until the grace period
 * runs out. Only #MunityPresence changes it.
 */
struct _MunityUser
{
  GObject    parent_instance;

  /* The key of the presence's table: fixed for the object's life, while
   * info is replaced by every change. */
  gint64     id;
  MunityUserInfo *info;     /* (owned) everything stored, bio included; the
                             * getters read the details from it */
  GPtrArray *sockets;       /* (owned) of MunitySocket (owned) */
  gint64     online_since;  /* real time, µs */
  gboolean   lingering;
  gint64     deadline;      /* monotonic µs, while lingering */
  GList     *linger_link;   /* (unowned) in one of the presence's lingering queues */
  GQueue    *linger_queue;  /* (unowned) that queue */
  GList     *order_link;    /* (unowned) in the presence's join-order queue */
  /* Profile changes are announced at most once per interval: */
  gint64     quiet_until;   /* monotonic µs: no announcement before, 0 = any time */
  MunityUserInfo *pending;  /* (owned) (nullable) the newest change held back */
  GList     *pending_link;  /* (unowned) in the presence's pending queue */
  /* Status (doc/protocol.md §3): idle is what everyone was last shown;
   * a change of the sockets' statuses goes through the same held-change
   * queue as a profile change (munity_user_apply_status()). */
  gboolean   idle;
  gboolean   left_here;     /* this node records the leave (last seen) */
};

G_DEFINE_FINAL_TYPE (MunityUser, munity_user, G_TYPE_OBJECT)

enum {
  PROP_0,
  PROP_ID,
  PROP_FIRST,
  PROP_LAST,
  PROP_IMAGE_URL,
  PROP_N_SOCKETS,
  PROP_ONLINE_SINCE,
  PROP_STATUS,
  N_PROPS
};

static GParamSpec *props[N_PROPS];

static void
munity_user_finalize (GObject *object)
{
  MunityUser *self = MUNITY_USER (object);

  g_clear_pointer (&self->info, munity_user_info_unref);
  g_clear_pointer (&self->pending, munity_user_info_unref);
  g_clear_pointer (&self->sockets, g_ptr_array_unref);

  G_OBJECT_CLASS (munity_user_parent_class)->finalize (object);
}

static void
munity_user_get_property (GObject    *object,
                          guint       prop_id,
                          GValue     *value,
                          GParamSpec *pspec)
{
  MunityUser *self = MUNITY_USER (object);

  switch (prop_id)
    {
    case PROP_ID:
      g_value_set_int64 (value, self->id);
      break;
    case PROP_FIRST:
      g_value_set_string (value, self->info->first);
      break;
    case PROP_LAST:
      g_value_set_string (value, self->info->last);
      break;
    case PROP_IMAGE_URL:
      g_value_set_string (value, self->info->image_url);
      break;
    case PROP_N_SOCKETS:
      g_value_set_uint (value, self->sockets->len);
      break;
    case PROP_ONLINE_SINCE:
      g_value_set_int64 (value, self->online_since);
      break;
    case PROP_STATUS:
      g_value_set_string (value, munity_user_get_status (self));
      break;
    default:
      G_OBJECT_WARN_INVALID_PROPERTY_ID (object, prop_id, pspec);
    }
}

static void
munity_user_class_init (MunityUserClass *klass)
{
  GObjectClass *object_class = G_OBJECT_CLASS (klass);

  object_class->finalize = munity_user_finalize;
  object_class->get_property = munity_user_get_property;

  props[PROP_ID] = g_param_spec_int64 ("id", NULL, NULL, 0, G_MAXINT64, 0,
                                       G_PARAM_READABLE | G_PARAM_STATIC_STRINGS);
  props[PROP_FIRST] = g_param_spec_string ("first", NULL, NULL, NULL,
                                           G_PARAM_READABLE | G_PARAM_STATIC_STRINGS | G_PARAM_EXPLICIT_NOTIFY);
  props[PROP_LAST] = g_param_spec_string ("last", NULL, NULL, NULL,
                                          G_PARAM_READABLE | G_PARAM_STATIC_STRINGS | G_PARAM_EXPLICIT_NOTIFY);
  props[PROP_IMAGE_URL] = g_param_spec_string ("image-url", NULL, NULL, NULL,
                                               G_PARAM_READABLE | G_PARAM_STATIC_STRINGS | G_PARAM_EXPLICIT_NOTIFY);
  props[PROP_N_SOCKETS] = g_param_spec_uint ("n-sockets", NULL, NULL, 0, G_MAXUINT, 0,
                                             G_PARAM_READABLE | G_PARAM_STATIC_STRINGS | G_PARAM_EXPLICIT_NOTIFY);
  props[PROP_ONLINE_SINCE] = g_param_spec_int64 ("online-since", NULL, NULL, 0, G_MAXINT64, 0,
                                                 G_PARAM_READABLE | G_PARAM_STATIC_STRINGS);
  props[PROP_STATUS] = g_param_spec_string ("status", NULL, NULL, "online",
                                            G_PARAM_READABLE | G_PARAM_STATIC_STRINGS | G_PARAM_EXPLICIT_NOTIFY);
  g_object_class_install_properties (object_class, N_PROPS, props);
}

static void
munity_user_init (MunityUser *self)
{
  self->sockets = g_ptr_array_new_with_free_func (g_object_unref);
}

MunityUser *
munity_user_new (MunityUserInfo *info,
                 gint64          online_since)
{
  MunityUser *self = g_object_new (MUNITY_TYPE_USER, NULL);

  self->id = info->id;
  self->info = munity_user_info_ref (info);
  self->online_since = online_since;
  return self;
}

gint64 *
munity_user_get_id_ptr (MunityUser *self)
{
  return &self->id;
}

/* Whether @info shows the same as the user now: first, last, picture. */
gboolean
munity_user_shows_same (MunityUser     *self,
                        MunityUserInfo *info)
{
  return g_strcmp0 (self->info->first, info->first) == 0 &&
         g_strcmp0 (self->info->last, info->last) == 0 &&
         g_strcmp0 (self->info->image_url, info->image_url) == 0;
}

/* The status the sockets call for: idle when every socket is idle. A
 * lingering user (no socket) keeps what everyone was last shown. */
gboolean
munity_user_wants_idle (MunityUser *self)
{
  if (self->sockets->len == 0)
    return self->idle;
  for (guint i = 0; i < self->sockets->len; i++)
    if (!munity_socket_get_idle (self->sockets->pdata[i]))
      return FALSE;
  return TRUE;
}

/* Shows the status the sockets call for; returns TRUE if it changed. */
gboolean
munity_user_apply_status (MunityUser *self)
{
  gboolean idle = munity_user_wants_idle (self);

  if (idle == self->idle)
    return FALSE;
  self->idle = idle;
  g_object_notify_by_pspec (G_OBJECT (self), props[PROP_STATUS]);
  return TRUE;
}

/* Without an announcement: for a user who is just joining. */
void
munity_user_set_idle (MunityUser *self,
                      gboolean    idle)
{
  self->idle = idle;
}

void
munity_user_set_left_here (MunityUser *self,
                           gboolean    left_here)
{
  self->left_here = left_here;
}

gint64
munity_user_get_quiet_until (MunityUser *self)
{
  return self->quiet_until;
}

void
munity_user_set_quiet_until (MunityUser *self,
                             gint64      quiet_until)
{
  self->quiet_until = quiet_until;
}

MunityUserInfo *
munity_user_get_pending (MunityUser *self)
{
  return self->pending;
}

/* Takes a reference to @info; %NULL drops what was held. */
void
munity_user_set_pending (MunityUser     *self,
                         MunityUserInfo *info)
{
  if (info != NULL)
    munity_user_info_ref (info);
  g_clear_pointer (&self->pending, munity_user_info_unref);
  self->pending = info;
}

MunityUserInfo *
munity_user_steal_pending (MunityUser *self)
{
  return g_steal_pointer (&self->pending);
}

GList *
munity_user_get_pending_link (MunityUser *self)
{
  return self->pending_link;
}

void
munity_user_set_pending_link (MunityUser *self,
                              GList      *link)
{
  self->pending_link = link;
}

/* Returns TRUE if anything everyone sees (not the bio) changed. */
gboolean
munity_user_update (MunityUser     *self,
                    MunityUserInfo *info)
{
  g_autoptr(MunityUserInfo) old = NULL;
  gboolean first, last, image_url;

  /* Answers to concurrent updates arrive in any order: never go back. */
  if (info->version < self->info->version)
    return FALSE;

  /* The bio is kept too (for GET /api/online) but is not news. */
  old = g_steal_pointer (&self->info);
  self->info = munity_user_info_ref (info);

  first = g_strcmp0 (old->first, info->first) != 0;
  last = g_strcmp0 (old->last, info->last) != 0;
  image_url = g_strcmp0 (old->image_url, info->image_url) != 0;

  g_object_freeze_notify (G_OBJECT (self));
  if (first)
    g_object_notify_by_pspec (G_OBJECT (self), props[PROP_FIRST]);
  if (last)
    g_object_notify_by_pspec (G_OBJECT (self), props[PROP_LAST]);
  if (image_url)
    g_object_notify_by_pspec (G_OBJECT (self), props[PROP_IMAGE_URL]);
  g_object_thaw_notify (G_OBJECT (self));

  return first || last || image_url;
}

void
munity_user_add_socket (MunityUser   *self,
                        MunitySocket *socket)
{
  g_ptr_array_add (self->sockets, g_object_ref (socket));
  g_object_notify_by_pspec (G_OBJECT (self), props[PROP_N_SOCKETS]);
}

gboolean
munity_user_remove_socket (MunityUser   *self,
                           MunitySocket *socket)
{
  if (!g_ptr_array_remove_fast (self->sockets, socket))
    return FALSE;
  self->left_here = munity_socket_get_node_id (socket) == 0;
  g_object_notify_by_pspec (G_OBJECT (self), props[PROP_N_SOCKETS]);
  return TRUE;
}

void
munity_user_set_lingering (MunityUser *self,
                           gboolean    lingering,
                           gint64      deadline)
{
  self->lingering = lingering;
  self->deadline = deadline;
}

gint64
munity_user_get_deadline (MunityUser *self)
{
  return self->deadline;
}

GList *
munity_user_get_order_link (MunityUser *self)
{
  return self->order_link;
}

void
munity_user_set_order_link (MunityUser *self,
                            GList      *link)
{
  self->order_link = link;
}

GList *
munity_user_get_linger_link (MunityUser *self,
                             GQueue    **queue)
{
  *queue = self->linger_queue;
  return self->linger_link;
}

void
munity_user_set_linger_link (MunityUser *self,
                             GQueue     *queue,
                             GList      *link)
{
  self->linger_queue = queue;
  self->linger_link = link;
}

/**
 * munity_user_get_id:
 * @self: a user
 *
 * Returns: the user's id
 */
gint64
munity_user_get_id (MunityUser *self)
{
  return self->id;
}

/**
 * munity_user_get_first:
 * @self: a user
 *
 * Returns: the first name
 */
const char *
munity_user_get_first (MunityUser *self)
{
  return self->info->first;
}

/**
 * munity_user_get_last:
 * @self: a user
 *
 * Returns: the last name
 */
const char *
munity_user_get_last (MunityUser *self)
{
  return self->info->last;
}

/**
 * munity_user_get_image_url:
 * @self: a user
 *
 * Returns: (nullable): the picture's same-origin path, if any
 */
const char *
munity_user_get_image_url (MunityUser *self)
{
  return self->info->image_url;
}

/**
 * munity_user_dup_name:
 * @self: a user
 *
 * Returns: (transfer full): the display name, "First Last"
 */
char *
munity_user_dup_name (MunityUser *self)
{
  return g_strconcat (self->info->first, " ", self->info->last, NULL);
}

/**
 * munity_user_get_n_sockets:
 * @self: a user
 *
 * Returns: how many sockets the user has open (0 while lingering)
 */
guint
munity_user_get_n_sockets (MunityUser *self)
{
  return self->sockets->len;
}

/**
 * munity_user_get_sockets:
 * @self: a user
 *
 * Returns: (transfer none) (element-type MunitySocket): the open sockets
 */
GPtrArray *
munity_user_get_sockets (MunityUser *self)
{
  return self->sockets;
}

/**
 * munity_user_get_online_since:
 * @self: a user
 *
 * Returns: when the user came online, in microseconds since the Unix
 *   epoch; unchanged while the user stays online, lingering included
 */
gint64
munity_user_get_online_since (MunityUser *self)
{
  return self->online_since;
}

/**
 * munity_user_is_lingering:
 * @self: a user
 *
 * Returns: %TRUE if the user has no socket and is waiting out the grace
 */
gboolean
munity_user_is_lingering (MunityUser *self)
{
  return self->lingering;
}

/**
 * munity_user_get_info:
 * @self: a user
 *
 * Returns: (transfer none): the user's stored details, bio included, as of
 *   the last session lookup or profile change
 */
MunityUserInfo *
munity_user_get_info (MunityUser *self)
{
  return self->info;
}

/**
 * munity_user_is_idle:
 * @self: a user
 *
 * Returns: %TRUE if every socket of the user is idle, as last announced
 *   (a lingering user keeps the status it had)
 */
gboolean
munity_user_is_idle (MunityUser *self)
{
  return self->idle;
}

/**
 * munity_user_get_status:
 * @self: a user
 *
 * Returns: the user's status as doc/protocol.md §3 spells it: `"idle"` or
 *   `"online"`
 */
const char *
munity_user_get_status (MunityUser *self)
{
  return self->idle ? "idle" : "online";
}

/**
 * munity_user_left_here:
 * @self: a user
 *
 * Whether this munityd is the node that records the user's leave (last
 * seen, doc/protocol.md §3): the user's last socket was one of its own,
 * or it logged the user out or disconnected them. Meaningful in
 * #MunityPresence::user-left handlers. A user whose last socket was on a
 * node that died is recorded by the node that declares it dead
 * (munity-cluster.c).
 *
 * Returns: %TRUE if this node records the leave
 */
gboolean
munity_user_left_here (MunityUser *self)
{
  return self->left_here;
}

/* A driver for the fuzz targets when libFuzzer is not used (gcc builds):
 * replays the seed corpus, then feeds mutated inputs for a bounded number
 * of rounds. The suite runs it as a smoke test; long runs are done by hand
 * with the libFuzzer build (-Dfuzzing=true, clang). */
#include "config.h"

#include <glib.h>
#include <stdint.h>
#include <string.h>

int LLVMFuzzerTestOneInput (const uint8_t *data, size_t size);

int
main (int   argc,
      char *argv[])
{
  g_autoptr(GPtrArray) seeds = g_ptr_array_new_with_free_func ((GDestroyNotify) g_bytes_unref);
  guint rounds = 20000;
  guint32 seed = g_random_int ();
  GRand *rand;

  for (int i = 1; i < argc; i++)
    {
      if (g_str_has_prefix (argv[i], "--rounds="))
        rounds = (guint) g_ascii_strtoull (argv[i] + 9, NULL, 10);
      else
        {
          g_autoptr(GDir) dir = g_dir_open (argv[i], 0, NULL);
          const char *name;

          while (dir != NULL && (name = g_dir_read_name (dir)) != NULL)
            {
              g_autofree char *path = g_build_filename (argv[i], name, NULL);
              char *contents;
              gsize length;

              if (g_file_get_contents (path, &contents, &length, NULL))
                g_ptr_array_add (seeds, g_bytes_new_take (contents, length));
            }
        }
    }

  if (g_getenv ("MUNITY_TEST_SEED") != NULL)
    seed = (guint32) g_ascii_strtoull (g_getenv ("MUNITY_TEST_SEED"), NULL, 10);
  g_print ("# fuzz smoke: %u seeds, %u rounds, seed %u\n", seeds->len, rounds, seed);
  rand = g_rand_new_with_seed (seed);

  for (guint i = 0; i < seeds->len; i++)
    LLVMFuzzerTestOneInput (g_bytes_get_data (seeds->pdata[i], NULL), g_bytes_get_size (seeds->pdata[i]));

  for (guint r = 0; r < rounds; r++)
    {
      guint8 buffer[4200];
      gsize length;

      if (seeds->len > 0 && g_rand_boolean (rand))
        {
          GBytes *base = seeds->pdata[g_rand_int_range (rand, 0, seeds->len)];
          length = MIN (g_bytes_get_size (base), sizeof buffer);
          memcpy (buffer, g_bytes_get_data (base, NULL), length);
          for (int m = g_rand_int_range (rand, 1, 8); m > 0 && length > 0; m--)
            buffer[g_rand_int_range (rand, 0, length)] = (guint8) g_rand_int (rand);
          if (g_rand_boolean (rand))
            length = g_rand_int_range (rand, 0, length + 1);
        }
      else
        {
          length = g_rand_int_range (rand, 0, 300);
          for (gsize k = 0; k < length; k++)
            buffer[k] = (guint8) g_rand_int (rand);
        }
      LLVMFuzzerTestOneInput (buffer, length);
    }

  g_rand_free (rand);
  g_print ("ok 1 fuzz smoke\n1..1\n");
  return 0;
}

/* Fuzz target: configuration files. */
#include "config.h"

#include <stdint.h>

#include "munity-config.h"

int LLVMFuzzerTestOneInput (const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput (const uint8_t *data,
                        size_t         size)
{
  g_autoptr(GKeyFile) key_file = g_key_file_new ();
  g_autoptr(MunityConfig) config = munity_config_new ();

  if (g_key_file_load_from_data (key_file, (const char *) data, size, G_KEY_FILE_NONE, NULL))
    (void) munity_config_load_key_file (config, key_file, NULL);

  return 0;
}

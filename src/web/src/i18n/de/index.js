// The German catalogue: one file per area of the client, merged. An id
// must not be in two files with different translations (check-i18n.mjs
// reads the merged result).
import app from './app.js';
import auth from './auth.js';
import common from './common.js';
import online from './online.js';
import profile from './profile.js';

export default { ...common, ...app, ...auth, ...profile, ...online };

// The German catalogue: one file per area of the client, merged.
import common from './common.js';

export default { ...common };

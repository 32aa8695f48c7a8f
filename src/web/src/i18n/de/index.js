// The German catalogue: one file per area of the client, merged.
import common from './common.js';
import online from './online.js';

export default { ...common, ...online };

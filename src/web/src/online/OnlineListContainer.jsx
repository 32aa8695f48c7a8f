// The Online now list, fed from the Redux store.
import { connect } from 'react-redux';
import { selectMe } from '../auth/authSlice.js';
import { selectConnection } from '../socket/connectionSlice.js';
import OnlineList from './OnlineList.jsx';
import { selectOnlineLoaded, selectOnlineUsers } from './onlineSlice.js';

export function mapStateToProps(state) {
  return {
    users: selectOnlineUsers(state),
    viewerId: selectMe(state)?.id ?? null,
    loaded: selectOnlineLoaded(state),
    stale: selectConnection(state).status === 'reconnecting',
  };
}

export default connect(mapStateToProps)(OnlineList);

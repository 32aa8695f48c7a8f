// The Online now screen, fed from the Redux store: the full list, or the
// window of a big community's (windowSlice.js).
import { connect } from 'react-redux';
import { selectMe } from '../auth/authSlice.js';
import { selectConnection } from '../socket/connectionSlice.js';
import OnlineList from './OnlineList.jsx';
import {
  chooseLayout, searchChanged, selectAnnouncements, selectLayout, selectOnlineLoaded, selectOnlineUsers, selectQuery,
  selectSort, selectVisibleUsers, sortChanged,
} from './onlineSlice.js';
import { selectWindow, windowRequested } from './windowSlice.js';

export function mapStateToProps(state) {
  const window = selectWindow(state);
  return {
    users: selectVisibleUsers(state),
    count: selectOnlineUsers(state).length,
    viewerId: selectMe(state)?.id ?? null,
    loaded: selectOnlineLoaded(state) || window.active,
    connection: selectConnection(state),
    query: selectQuery(state),
    sort: selectSort(state),
    layout: selectLayout(state),
    announcements: selectAnnouncements(state),
    windowed: window.active ? window : null,
  };
}

export default connect(mapStateToProps, {
  onSearch: searchChanged,
  onSort: sortChanged,
  onLayout: chooseLayout,
  onWindow: windowRequested,
})(OnlineList);

// The Online now screen, fed from the Redux store.
import { connect } from 'react-redux';
import { selectMe } from '../auth/authSlice.js';
import { selectConnection } from '../socket/connectionSlice.js';
import OnlineList from './OnlineList.jsx';
import {
  chooseLayout, searchChanged, selectAnnouncements, selectLayout, selectOnlineLoaded, selectOnlineUsers, selectQuery,
  selectSort, selectVisibleUsers, sortChanged,
} from './onlineSlice.js';

export function mapStateToProps(state) {
  return {
    users: selectVisibleUsers(state),
    count: selectOnlineUsers(state).length,
    viewerId: selectMe(state)?.id ?? null,
    loaded: selectOnlineLoaded(state),
    connection: selectConnection(state),
    query: selectQuery(state),
    sort: selectSort(state),
    layout: selectLayout(state),
    announcements: selectAnnouncements(state),
  };
}

export default connect(mapStateToProps, {
  onSearch: searchChanged,
  onSort: sortChanged,
  onLayout: chooseLayout,
})(OnlineList);

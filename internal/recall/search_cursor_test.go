package recall

import "context"

func (s *listStore) Delete(context.Context, string, string) (*Conversation, error) {
	return nil, Errorf(ENOTFOUND, "not used by listings")
}

"""nn.utils.parameters_to_vector / vector_to_parameters against torch."""

from __future__ import annotations

import numpy as np
import pytest

import lamina as lm


def test_round_trip_matches_torch(torch):
    ours = lm.nn.Sequential(lm.nn.Linear(3, 2), lm.nn.Linear(2, 1)).double()
    theirs = torch.nn.Sequential(torch.nn.Linear(3, 2), torch.nn.Linear(2, 1)).double()
    theirs.load_state_dict({k: torch.from_numpy(v.copy()) for k, v in ours.state_dict().items()})
    vec = lm.nn.utils.parameters_to_vector(ours.parameters())
    vec_t = torch.nn.utils.parameters_to_vector(theirs.parameters())
    np.testing.assert_array_equal(vec.numpy(), vec_t.detach().numpy())
    vec.sum().backward()  # the vector stays in the graph
    assert all(p.grad.numpy().tolist() == np.ones(p.shape).tolist() for p in ours.parameters())
    new = np.arange(vec.shape[0], dtype=np.float64)
    lm.nn.utils.vector_to_parameters(lm.tensor(new), ours.parameters())
    torch.nn.utils.vector_to_parameters(torch.from_numpy(new), theirs.parameters())
    for (k, v), (_, w) in zip(ours.state_dict().items(), theirs.state_dict().items(),
                              strict=True):
        np.testing.assert_array_equal(v, w.numpy(), err_msg=k)


def test_wrong_length_is_a_clear_error():
    model = lm.nn.Linear(2, 2)
    with pytest.raises(ValueError, match="1-D tensor of 6 elements"):
        lm.nn.utils.vector_to_parameters(lm.zeros(5), model.parameters())
    with pytest.raises(TypeError, match="expected a Tensor"):
        lm.nn.utils.vector_to_parameters(np.zeros(6), model.parameters())

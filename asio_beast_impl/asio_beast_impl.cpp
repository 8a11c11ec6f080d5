// The one translation unit that holds Asio's and Beast's compiled implementation
// (see BOOST_ASIO_SEPARATE_COMPILATION in asio_beast_impl/CMakeLists.txt).
#include <boost/asio/impl/src.hpp>
#include <boost/beast/src.hpp>

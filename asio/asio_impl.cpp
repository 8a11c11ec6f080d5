// The one translation unit that holds Asio's and Beast's compiled implementation
// (see BOOST_ASIO_SEPARATE_COMPILATION in asio/CMakeLists.txt).
#include <boost/asio/impl/src.hpp>
#include <boost/beast/src.hpp>
